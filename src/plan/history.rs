//! A cluster's history, kept as tags of its ELB (which is never deleted), so that
//! `history` and a rollback to a collected release survive `gc`.

use serde::Serialize;

/// The history tag of a release: `drydock:release:vNNN` on the ELB, value
/// `ami=… at=… result=ok|failed image=… by=…`. Classic ELB tag values allow letters,
/// digits, spaces and `_ . : / = + - @` up to 256 characters: anything else becomes `_`,
/// and the least important fields (by, then image) are dropped or cut first.
pub fn history_record(
    version: &str,
    ami: &str,
    at: i64,
    result: &str,
    image: Option<&str>,
    by: &str,
) -> (String, String) {
    let clean = |s: &str| -> String {
        s.chars().map(|c| if c.is_alphanumeric() || "_.:/=+-@".contains(c) { c } else { '_' }).collect()
    };
    let mut value = format!("ami={} at={at} result={result}", clean(ami));
    if let Some(i) = image {
        value.push_str(&format!(" image={}", clean(i)));
    }
    let by = format!(" by={}", clean(by));
    if value.len() + by.len() <= 256 {
        value.push_str(&by);
    }
    value.truncate(256);
    (format!("drydock:release:{version}"), value)
}

/// A history record read back from an ELB tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct HistoryRecord {
    pub number: u16,
    pub ami: String,
    pub at: i64,
    pub failed: bool,
    pub image: Option<String>,
    pub by: Option<String>,
}

pub fn parse_history(key: &str, value: &str) -> Option<HistoryRecord> {
    let v = key.strip_prefix("drydock:release:v")?;
    if v.len() != 3 {
        return None;
    }
    let number = v.parse().ok()?;
    let field = |name: &str| value.split(' ').find_map(|p| p.strip_prefix(&format!("{name}=")).map(str::to_owned));
    Some(HistoryRecord {
        number,
        ami: field("ami")?,
        at: field("at").and_then(|a| a.parse().ok()).unwrap_or(0),
        failed: field("result").as_deref() == Some("failed"),
        image: field("image"),
        by: field("by"),
    })
}
