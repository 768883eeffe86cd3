//! The one place that maps failures to the exit codes of SPEC.md.

use crate::cloud::CloudError;
use crate::config::ConfigErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or configuration; nothing was touched. Exit 2.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A bad flag value or a request that does not fit the config. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed and the live service is as it was. Exit 1.
    #[error("{0}")]
    Failed(String),
    /// An AWS call failed while drydock was `doing` something: the cloud's code, message
    /// and request id are kept. Exit 1; exit 2 when what the config names does not exist.
    #[error("{doing}: {source}")]
    Cloud { doing: String, source: CloudError },
    /// The new release did not get healthy in time: every instance that was not
    /// InService, with the ELB's reason. Exit 1 (the previous release keeps serving).
    #[error("{}", unhealthy_message(doing, elb, group, *expected, *in_service, *timeout_s, reasons, *never_launched, early.as_deref()))]
    Unhealthy {
        doing: String,
        elb: String,
        group: String,
        expected: u32,
        in_service: u32,
        timeout_s: u64,
        reasons: Vec<InstanceReason>,
        never_launched: u32,
        /// Failed before the timeout because the release was certainly broken.
        early: Option<Box<FailedEarly>>,
    },
    /// The cluster's lease is held by a live operation. Exit 3.
    #[error("{doing}: cluster {cluster} is busy: {operation} by {holder} (heartbeat {age_s} s ago); try again when it is done")]
    Busy { doing: String, cluster: String, operation: String, holder: String, age_s: i64 },
    /// Another operation got there first (e.g. created the same release at the same
    /// time). Exit 3.
    #[error("{0}")]
    Raced(String),
    /// Failed, and the state needs attention: the message says exactly what. Exit 4.
    #[error("{0}")]
    NeedsAttention(String),
    /// Interrupted by a signal; cleanup done. Exit 130.
    #[error("{0}")]
    Interrupted(String),
    /// A CloudWatch alarm stopped the operation (issue #17): already firing before any
    /// change, or during a canary hold (compensated) or a bake time (rolled back). Exit 1:
    /// the live service is as it was (or back to it). The alarm goes into the JSON result.
    #[error("{message}")]
    Alarm { message: String, alarm: crate::domain::alarm::FiredAlarm, phase: Option<crate::plan::WatchPhase> },
    /// A multi-service command whose results (failures included) are already on stdout:
    /// only the exit code (the worst one) and a summary for stderr remain.
    #[error("{summary}")]
    Reported { code: i32, summary: String },
}

/// Why one instance of a release is not serving, as the ELB says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceReason {
    pub instance: String,
    /// `OutOfService`, or `not registered`.
    pub state: String,
    pub description: String,
}

/// A release failed before its health timeout: every instance had been failing its
/// health checks for longer than `fail_after_s` (`domain::health`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedEarly {
    /// Seconds since the wait began.
    pub after_s: u64,
    pub fail_after_s: u64,
    /// Auto Scaling replaced an instance that failed its checks after its grace period
    /// (rather than: every instance fails, older than `fail_after_s`).
    pub replaced: bool,
}

#[allow(clippy::too_many_arguments)]
fn unhealthy_message(
    doing: &str,
    elb: &str,
    group: &str,
    expected: u32,
    in_service: u32,
    timeout_s: u64,
    reasons: &[InstanceReason],
    never_launched: u32,
    early: Option<&FailedEarly>,
) -> String {
    let not = expected.saturating_sub(in_service);
    let mut msg = match early {
        None => {
            format!("{doing}: ELB {elb}: {not} of {expected} instances of {group} not InService after {timeout_s}s")
        }
        Some(e) if e.replaced => format!(
            "{doing}: ELB {elb}: {not} of {expected} instances of {group} not InService; failed early after {}s \
             of the {timeout_s}s health timeout: Auto Scaling replaced an instance that failed its health checks \
             after the grace period, and no instance serves, so the release will not get healthy",
            e.after_s
        ),
        Some(e) => format!(
            "{doing}: ELB {elb}: {not} of {expected} instances of {group} not InService; failed early after {}s \
             of the {timeout_s}s health timeout: every instance fails its health checks (OutOfService, \
             ReasonCode Instance) and is older than {}s (the grace period + {} × {}s of failed checks), so the \
             release will not get healthy",
            e.after_s,
            e.fail_after_s,
            crate::domain::health::UNHEALTHY_THRESHOLD,
            crate::domain::health::INTERVAL_S
        ),
    };
    if !reasons.is_empty() {
        let r: Vec<String> = reasons
            .iter()
            .map(|r| match (r.state.as_str(), r.description.as_str()) {
                ("not registered", _) => format!("{}: not registered with the ELB", r.instance),
                (s, "") => format!("{}: {s}", r.instance),
                (s, d) => format!("{}: {s}: {d}", r.instance),
            })
            .collect();
        msg.push_str(&format!(": {}", r.join("; ")));
    }
    if never_launched > 0 {
        msg.push_str(&format!("; {never_launched} instance(s) never launched"));
    }
    msg
}

impl Error {
    /// An AWS call that failed while `doing` something.
    pub fn cloud(doing: impl Into<String>, source: CloudError) -> Self {
        Error::Cloud { doing: doing.into(), source }
    }

    /// AWS refused the request (it did not act), as opposed to a failure after which a
    /// write may have happened.
    pub fn refused(&self) -> bool {
        matches!(self, Error::Cloud { source, .. } if source.refused)
    }

    /// The one place where a failure becomes an exit code (SPEC.md, "Exit codes").
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            Error::Cloud { source, .. } if source.missing => 2,
            Error::Failed(_) | Error::Cloud { .. } | Error::Unhealthy { .. } | Error::Alarm { .. } => 1,
            Error::Busy { .. } | Error::Raced(_) => 3,
            Error::NeedsAttention(_) => 4,
            Error::Interrupted(_) => 130,
            Error::Reported { code, .. } => *code,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::Config(ConfigErrors(vec![])).exit_code(), 2);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
        assert_eq!(Error::Raced("x".into()).exit_code(), 3);
        let busy = Error::Busy {
            doing: "deploy www to prod".into(),
            cluster: "www-prod".into(),
            operation: "deploy".into(),
            holder: "jenkins@ci pid 7".into(),
            age_s: 12,
        };
        assert_eq!(busy.exit_code(), 3);
        assert_eq!(
            busy.to_string(),
            "deploy www to prod: cluster www-prod is busy: deploy by jenkins@ci pid 7 (heartbeat 12 s ago); try again when it is done"
        );
        let e = CloudError {
            op: "CreateTags",
            code: Some("RequestLimitExceeded".into()),
            message: "Request limit exceeded.".into(),
            request_id: Some("r-1".into()),
            missing: false,
            transient: true,
            refused: true,
        };
        assert_eq!(Error::cloud("bake www", e.clone()).exit_code(), 1);
        assert_eq!(
            Error::cloud("bake www", e.clone()).to_string(),
            "bake www: CreateTags: RequestLimitExceeded: Request limit exceeded. (request id r-1)"
        );
        assert_eq!(Error::cloud("x", CloudError { missing: true, ..e }).exit_code(), 2);
        let u = Error::Unhealthy {
            doing: "deploy www to prod".into(),
            elb: "www-prod".into(),
            group: "www-prod-v002".into(),
            expected: 3,
            in_service: 1,
            timeout_s: 600,
            reasons: vec![
                InstanceReason {
                    instance: "i-1".into(),
                    state: "OutOfService".into(),
                    description:
                        "Instance has failed at least the UnhealthyThreshold number of health checks consecutively."
                            .into(),
                },
                InstanceReason { instance: "i-2".into(), state: "not registered".into(), description: String::new() },
            ],
            never_launched: 0,
            early: None,
        };
        assert_eq!(u.exit_code(), 1);
        assert_eq!(
            u.to_string(),
            "deploy www to prod: ELB www-prod: 2 of 3 instances of www-prod-v002 not InService after 600s: i-1: OutOfService: Instance has failed at least the UnhealthyThreshold number of health checks consecutively.; i-2: not registered with the ELB"
        );
        let early = Error::Unhealthy {
            doing: "deploy www to prod".into(),
            elb: "www-prod".into(),
            group: "www-prod-v002".into(),
            expected: 1,
            in_service: 0,
            timeout_s: 600,
            reasons: vec![InstanceReason {
                instance: "i-1".into(),
                state: "OutOfService".into(),
                description: "Instance is in stopped state.".into(),
            }],
            never_launched: 0,
            early: Some(Box::new(FailedEarly { after_s: 332, fail_after_s: 330, replaced: false })),
        };
        assert_eq!(early.exit_code(), 1);
        assert_eq!(
            early.to_string(),
            "deploy www to prod: ELB www-prod: 1 of 1 instances of www-prod-v002 not InService; failed early after 332s of the 600s health timeout: every instance fails its health checks (OutOfService, ReasonCode Instance) and is older than 330s (the grace period + 3 × 10s of failed checks), so the release will not get healthy: i-1: OutOfService: Instance is in stopped state."
        );
        assert_eq!(Error::NeedsAttention("x".into()).exit_code(), 4);
        assert_eq!(Error::Interrupted("x".into()).exit_code(), 130);
    }
}
