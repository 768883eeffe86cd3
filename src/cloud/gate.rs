//! The one way to AWS. The SDK clients live here, in private fields, so that no call can
//! bypass the pacer: an operation gets its client from `ec2`/`asg`/`elb`, which first
//! takes a token of the API family's bucket, and every page of a paginated call takes its
//! own token through `next_page`.

use std::sync::Arc;

use aws_smithy_async::future::pagination_stream::PaginationStream;

use super::pace::{ec2_action, Api, Pacer};

#[derive(Clone)]
pub struct Gate {
    ec2: aws_sdk_ec2::Client,
    asg: aws_sdk_autoscaling::Client,
    elb: aws_sdk_elasticloadbalancing::Client,
    cw: aws_sdk_cloudwatch::Client,
    /// Shared by every task of the process: the request budget is per account and region.
    pacer: Arc<Pacer>,
}

impl Gate {
    pub fn new(conf: &aws_config::SdkConfig) -> Self {
        let pacer = Arc::new(Pacer::default());
        let watch = |read, write: fn(&str) -> Api| ThrottleWatch { pacer: pacer.clone(), read, write };
        Self {
            ec2: aws_sdk_ec2::Client::from_conf(
                aws_sdk_ec2::config::Builder::from(conf)
                    .interceptor(watch(Api::Ec2Read, |op| Api::Ec2Write(ec2_action(op))))
                    .build(),
            ),
            asg: aws_sdk_autoscaling::Client::from_conf(
                aws_sdk_autoscaling::config::Builder::from(conf)
                    .interceptor(watch(Api::AsgRead, |_| Api::AsgWrite))
                    .build(),
            ),
            elb: aws_sdk_elasticloadbalancing::Client::from_conf(
                aws_sdk_elasticloadbalancing::config::Builder::from(conf)
                    .interceptor(watch(Api::ElbRead, |_| Api::ElbWrite))
                    .build(),
            ),
            cw: aws_sdk_cloudwatch::Client::from_conf(
                aws_sdk_cloudwatch::config::Builder::from(conf)
                    .interceptor(watch(Api::CwRead, |_| Api::CwRead))
                    .build(),
            ),
            pacer,
        }
    }

    /// Marks a cluster's work as critical until `Critical::done` (its switch) or drop.
    pub fn critical(&self) -> crate::cloud::pace::Critical {
        crate::cloud::pace::Critical::new(self.pacer.clone())
    }

    /// The rate this process allows itself for `api` now (`Pacer::rate`).
    pub fn rate(&self, api: Api) -> f64 {
        self.pacer.rate(api)
    }

    /// The EC2 client, after a token of `api` (one of the EC2 families).
    pub async fn ec2(&self, api: Api) -> &aws_sdk_ec2::Client {
        debug_assert!(matches!(api, Api::Ec2Read | Api::Ec2Write(_)));
        self.pacer.take(api).await;
        &self.ec2
    }

    /// The Auto Scaling client, after a token of `api`.
    pub async fn asg(&self, api: Api) -> &aws_sdk_autoscaling::Client {
        debug_assert!(matches!(api, Api::AsgRead | Api::AsgWrite));
        self.pacer.take(api).await;
        &self.asg
    }

    /// The Auto Scaling client, after a spare token of `api` (`Pacer::take_spare`): for
    /// a batch that grows while it waits, until `enough()`.
    pub async fn asg_spare(&self, api: Api, enough: impl Fn() -> bool) -> &aws_sdk_autoscaling::Client {
        debug_assert!(matches!(api, Api::AsgRead | Api::AsgWrite));
        self.pacer.take_spare(api, enough).await;
        &self.asg
    }

    /// The classic ELB client, after a token of `api`.
    pub async fn elb(&self, api: Api) -> &aws_sdk_elasticloadbalancing::Client {
        debug_assert!(matches!(api, Api::ElbRead | Api::ElbWrite));
        self.pacer.take(api).await;
        &self.elb
    }

    /// The CloudWatch client (alarm gates), after a token of `api`.
    pub async fn cloudwatch(&self, api: Api) -> &aws_sdk_cloudwatch::Client {
        debug_assert!(matches!(api, Api::CwRead));
        self.pacer.take(api).await;
        &self.cw
    }

    /// A paginated call: `make` builds the SDK paginator (synchronously, so it cannot
    /// send anything itself); every page it then fetches takes a token of `api`.
    pub fn ec2_pages<T>(&self, api: Api, make: impl FnOnce(&aws_sdk_ec2::Client) -> PaginationStream<T>) -> Pages<T> {
        Pages { pacer: self.pacer.clone(), api, stream: make(&self.ec2) }
    }
    pub fn asg_pages<T>(
        &self,
        api: Api,
        make: impl FnOnce(&aws_sdk_autoscaling::Client) -> PaginationStream<T>,
    ) -> Pages<T> {
        Pages { pacer: self.pacer.clone(), api, stream: make(&self.asg) }
    }
    pub fn elb_pages<T>(
        &self,
        api: Api,
        make: impl FnOnce(&aws_sdk_elasticloadbalancing::Client) -> PaginationStream<T>,
    ) -> Pages<T> {
        Pages { pacer: self.pacer.clone(), api, stream: make(&self.elb) }
    }
}

/// The pages of one paginated call, each paced.
pub struct Pages<T> {
    pacer: Arc<Pacer>,
    api: Api,
    stream: PaginationStream<T>,
}

impl<T> Pages<T> {
    pub async fn next(&mut self) -> Option<T> {
        self.pacer.take(self.api).await;
        self.stream.next().await
    }
}

/// Tells the pacer, after every attempt (the SDK's own retries included), whether AWS
/// throttled it: the signal that other processes share the account's budget.
struct ThrottleWatch {
    pacer: Arc<Pacer>,
    read: Api,
    /// The write family of an operation, by its name (EC2 paces each action apart).
    write: fn(&str) -> Api,
}

impl std::fmt::Debug for ThrottleWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottleWatch").field("read", &self.read).finish_non_exhaustive()
    }
}

/// AWS's throttling answers: EC2's RequestLimitExceeded (503), the query APIs' Throttling
/// (400), and the JSON services' ThrottlingException.
pub fn is_throttling(status: u16, body: &[u8]) -> bool {
    const CODES: [&[u8]; 4] =
        [b"RequestLimitExceeded", b"<Code>Throttling</Code>", b"ThrottlingException", b"RequestThrottled"];
    matches!(status, 400 | 429 | 503) && CODES.iter().any(|c| body.windows(c.len()).any(|w| w == *c))
}

impl aws_smithy_runtime_api::client::interceptors::Intercept for ThrottleWatch {
    fn name(&self) -> &'static str {
        "drydock-throttle-watch"
    }

    fn read_after_attempt(
        &self,
        context: &aws_smithy_runtime_api::client::interceptors::context::FinalizerInterceptorContextRef<'_>,
        _runtime_components: &aws_smithy_runtime_api::client::runtime_components::RuntimeComponents,
        cfg: &mut aws_smithy_types::config_bag::ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        let Some(response) = context.response() else { return Ok(()) };
        let op = cfg.load::<aws_smithy_runtime_api::client::orchestrator::Metadata>().map(|m| m.name()).unwrap_or("");
        let api = if op.starts_with("Describe") || op.starts_with("Get") { self.read } else { (self.write)(op) };
        if is_throttling(response.status().as_u16(), response.body().bytes().unwrap_or_default()) {
            self.pacer.throttled(api);
        } else {
            self.pacer.answered(api);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn throttling_answers_are_recognised() {
        use super::is_throttling;
        let ec2 = b"<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors></Response>";
        assert!(is_throttling(503, ec2));
        let query = b"<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error></ErrorResponse>";
        assert!(is_throttling(400, query));
        // Other errors, and a success that mentions the word, are not throttling.
        let validation =
            b"<ErrorResponse><Error><Code>ValidationError</Code><Message>Throttling</Message></Error></ErrorResponse>";
        assert!(!is_throttling(400, validation));
        assert!(!is_throttling(200, query));
        assert!(!is_throttling(503, b"<Error><Code>ServiceUnavailable</Code></Error>"));
    }
}
