//! CloudWatch alarms (progressive delivery's gates): DescribeAlarms by name, one paced
//! call for up to 100 names (the config allows no more).

use aws_sdk_cloudwatch::types::AlarmType;
use aws_smithy_types::date_time::Format;

use super::pace::Api;
use super::{aws_error, Cloud, CloudResult};
use crate::domain::alarm::{AlarmName, AlarmState, AlarmStatus};

/// The alarms of `names` that exist (metric and composite), in any order; a name that
/// CloudWatch does not know is simply absent (`domain::alarm::gate` reports it).
pub async fn describe(cloud: &Cloud, names: &[AlarmName]) -> CloudResult<Vec<AlarmStatus>> {
    if names.is_empty() {
        return Ok(vec![]);
    }
    let mut req = cloud
        .gate
        .cloudwatch(Api::CwRead)
        .await
        .describe_alarms()
        .alarm_types(AlarmType::MetricAlarm)
        .alarm_types(AlarmType::CompositeAlarm)
        .max_records(100);
    for n in names {
        req = req.alarm_names(n.as_str());
    }
    let page = req.send().await.map_err(|e| aws_error("DescribeAlarms", e))?;
    let mut out = Vec::new();
    let mut push = |name: Option<&str>, state: Option<&str>, reason: Option<&str>, at: Option<String>| {
        let (Some(name), Some(state)) = (name, state.and_then(AlarmState::parse)) else {
            return;
        };
        let Ok(name) = AlarmName::parse(name) else {
            return;
        };
        out.push(AlarmStatus {
            name,
            state,
            reason: reason.unwrap_or_default().to_owned(),
            since: at.unwrap_or_default(),
        });
    };
    let when = |t: Option<&aws_smithy_types::DateTime>| t.and_then(|t| t.fmt(Format::DateTime).ok());
    for a in page.metric_alarms() {
        push(a.alarm_name(), a.state_value().map(|s| s.as_str()), a.state_reason(), when(a.state_updated_timestamp()));
    }
    for a in page.composite_alarms() {
        push(a.alarm_name(), a.state_value().map(|s| s.as_str()), a.state_reason(), when(a.state_updated_timestamp()));
    }
    Ok(out)
}
