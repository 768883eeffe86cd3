//! The only place that talks to AWS. Each function is one observation or one action,
//! with SDK types converted to the plain types of `domain` at this boundary and every
//! SDK error turned into a `CloudError` that keeps the AWS code and request id.

pub mod alarms;
pub mod batch;
pub mod elb;
pub mod gate;
pub mod groups;
pub mod images;
pub mod instances;
pub mod launch_templates;
pub mod lease;
pub mod network;
pub mod pace;
pub mod reads;
pub mod scaling;
pub mod watch;

use std::fmt;

use aws_config::retry::RetryConfig;
use aws_config::BehaviorVersion;
use aws_sdk_ec2::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ec2::operation::RequestId;

/// The clients of one region.
#[derive(Clone)]
pub struct Cloud {
    /// The SDK clients, reachable only through the pacing gate.
    pub gate: gate::Gate,
    pub region: String,
    /// Cluster reads of every service of a command, batched (`reads.rs`).
    pub reads: std::sync::Arc<reads::Reads>,
    /// Group tags of every service of a command, batched (`groups::tag_many`).
    pub tags: std::sync::Arc<groups::Tags>,
}

impl Cloud {
    /// Credentials and profile from the standard chain; `endpoint` overrides the AWS
    /// endpoint (an emulator). Throttling and 5xx are retried with exponential backoff
    /// (standard mode, up to 6 attempts) by the SDK itself.
    pub async fn connect(region: &str, endpoint: Option<&str>) -> Self {
        Self::connect_as(region, endpoint, None).await
    }

    /// As `connect`, with the credentials of a named profile.
    pub async fn connect_as(region: &str, endpoint: Option<&str>, profile: Option<&str>) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_owned()))
            .retry_config(RetryConfig::standard().with_max_attempts(6));
        if let Some(p) = profile {
            // The profile's own credentials, explicitly: the default chain would prefer
            // AWS_ACCESS_KEY_ID from the environment (as a CI job exports it) and act in
            // the wrong account.
            let creds = aws_config::profile::ProfileFileCredentialsProvider::builder().profile_name(p).build();
            loader = loader.profile_name(p).credentials_provider(creds);
        }
        if let Some(url) = endpoint {
            loader = loader.endpoint_url(url);
        }
        let conf = loader.load().await;
        Self {
            gate: gate::Gate::new(&conf),
            region: region.to_owned(),
            reads: Default::default(),
            tags: Default::default(),
        }
    }
}

/// An AWS call that failed, as a user needs to read it.
#[derive(Debug, Clone)]
pub struct CloudError {
    pub op: &'static str,
    pub code: Option<String>,
    pub message: String,
    pub request_id: Option<String>,
    /// Something the config names does not exist (a config problem, exit 2), as opposed
    /// to a call that failed (exit 1).
    pub missing: bool,
    /// Throttling, a 5xx or no answer at all: the same read may well work a moment later.
    pub transient: bool,
    /// AWS answered that it did not act: a client error (4xx) or throttling. After a 5xx
    /// or no answer, a write may have happened.
    pub refused: bool,
}

impl fmt::Display for CloudError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.op)?;
        if let Some(c) = &self.code {
            write!(f, ": {c}")?;
        }
        write!(f, ": {}", self.message)?;
        if let Some(r) = &self.request_id {
            write!(f, " (request id {r})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CloudError {}

impl CloudError {
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
    /// "No such resource": each service and resource type has its own code for it, and
    /// Auto Scaling answers a ValidationError whose message says so.
    pub fn is_not_found(&self) -> bool {
        const NOT_FOUND: [&str; 8] = [
            "InvalidAMIID.NotFound",
            "InvalidGroup.NotFound",
            "InvalidInstanceID.NotFound",
            "InvalidLaunchTemplateName.NotFoundException",
            "InvalidLaunchTemplateId.NotFound",
            "InvalidSnapshot.NotFound",
            "LoadBalancerNotFound",
            "AccessPointNotFound",
        ];
        match self.code.as_deref() {
            Some("ValidationError") => self.message.contains("not found"),
            Some(c) => NOT_FOUND.contains(&c),
            None => false,
        }
    }
    pub fn other(op: &'static str, message: impl Into<String>) -> Self {
        Self {
            op,
            code: None,
            message: message.into(),
            request_id: None,
            missing: false,
            transient: false,
            refused: false,
        }
    }
    pub fn missing(op: &'static str, message: impl Into<String>) -> Self {
        Self { missing: true, ..Self::other(op, message) }
    }
}

/// Converts any SDK error of any of the three services.
pub fn aws_error<E>(op: &'static str, e: SdkError<E>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let code = e.code().map(str::to_owned);
    const THROTTLED: [&str; 6] = [
        "Throttling",
        "ThrottlingException",
        "RequestLimitExceeded",
        "RequestThrottled",
        "ServiceUnavailable",
        "InternalError",
    ];
    let transient = match &e {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
        SdkError::ServiceError(s) => {
            s.raw().status().is_server_error() || code.as_deref().is_some_and(|c| THROTTLED.contains(&c))
        }
        _ => false,
    };
    const REFUSED: [&str; 4] = ["Throttling", "ThrottlingException", "RequestLimitExceeded", "RequestThrottled"];
    let refused = match &e {
        SdkError::ServiceError(s) => {
            s.raw().status().is_client_error() || code.as_deref().is_some_and(|c| REFUSED.contains(&c))
        }
        _ => false,
    };
    let request_id = e.request_id().map(str::to_owned);
    let message = match e.message() {
        Some(m) => m.to_owned(),
        // No AWS error: the request never got an answer (connection refused, DNS,
        // timeout). The chain of causes reads as one line; DisplayErrorContext would add
        // a Rust debug dump.
        None => match &e {
            SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
                let mut parts = vec![e.to_string()];
                let mut source = std::error::Error::source(&e);
                while let Some(s) = source {
                    let t = s.to_string();
                    if !parts.iter().any(|p| p.contains(&t)) {
                        parts.push(t);
                    }
                    source = s.source();
                }
                parts.join(": ")
            }
            _ => DisplayErrorContext(&e).to_string(),
        },
    };
    CloudError { op, code, message, request_id, missing: false, transient, refused }
}

pub type CloudResult<T> = Result<T, CloudError>;

/// A tag as the EC2 API wants it.
pub fn ec2_tag(k: &str, v: &str) -> aws_sdk_ec2::types::Tag {
    aws_sdk_ec2::types::Tag::builder().key(k).value(v).build()
}

pub fn ec2_filter(name: &str, values: &[&str]) -> aws_sdk_ec2::types::Filter {
    let mut f = aws_sdk_ec2::types::Filter::builder().name(name);
    for v in values {
        f = f.values(*v);
    }
    f.build()
}
