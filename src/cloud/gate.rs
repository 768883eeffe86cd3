//! The one way to AWS. The SDK clients live here, in private fields, so that no call can
//! bypass the pacer: an operation gets its client from `ec2`/`asg`/`elb`, which first
//! takes a token of the API family's bucket, and every page of a paginated call takes its
//! own token through `next_page`.

use std::sync::Arc;

use aws_smithy_async::future::pagination_stream::PaginationStream;

use super::pace::{Api, Pacer};

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
        Self {
            ec2: aws_sdk_ec2::Client::new(conf),
            asg: aws_sdk_autoscaling::Client::new(conf),
            elb: aws_sdk_elasticloadbalancing::Client::new(conf),
            cw: aws_sdk_cloudwatch::Client::new(conf),
            pacer: Arc::new(Pacer::default()),
        }
    }

    /// The EC2 client, after a token of `api` (one of the EC2 families).
    pub async fn ec2(&self, api: Api) -> &aws_sdk_ec2::Client {
        debug_assert!(matches!(api, Api::Ec2Read | Api::Ec2Write));
        self.pacer.take(api).await;
        &self.ec2
    }

    /// The Auto Scaling client, after a token of `api`.
    pub async fn asg(&self, api: Api) -> &aws_sdk_autoscaling::Client {
        debug_assert!(matches!(api, Api::AsgRead | Api::AsgWrite));
        self.pacer.take(api).await;
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
