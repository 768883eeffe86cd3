//! A small evaluator of the IAM policy that `drydock iam-policy` prints, so that tests can
//! check the policy's conditions (not only its action list) against real requests: every
//! request of a recorded workflow is allowed, and the known bypasses (tagging a foreign
//! instance as a builder, terminating it, adopting a foreign group, deleting a foreign
//! launch template) are denied. What AWS authorizes for each request is modelled in
//! `requests.rs`; this file decides on one authorization.
//!
//! The evaluator knows exactly the parts of the policy language the policy uses: `Allow`
//! and `Deny` statements with `Action` and `Resource` patterns, and the condition
//! operators `StringEquals`, `StringNotEquals`, `StringLike`, `Bool`, `Null` and
//! `ForAllValues:StringEquals` / `ForAllValues:StringLike`. Anything else is an error, so
//! that a policy change that needs more of the language is noticed, not misjudged.

use std::collections::BTreeMap;

use serde_json::Value;

use super::requests::{authorizations, Call};

/// Condition keys of one authorization, by lowercased name (IAM key names are
/// case-insensitive); each key has one or more values.
pub type Context = BTreeMap<String, Vec<String>>;

/// One authorization AWS makes for a request: an action on one resource, in a context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authz {
    pub action: String,
    pub resource: String,
    pub context: Context,
}

/// Sets a condition key (lowercased: IAM key names are case-insensitive).
pub(super) fn set(ctx: &mut Context, key: &str, values: Vec<String>) {
    ctx.insert(key.to_ascii_lowercase(), values);
}

pub(super) fn authz(action: String, resource: String, context: Context) -> Authz {
    Authz { action, resource, context }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// No statement allows it.
    ImplicitDeny,
    /// A `Deny` statement matches.
    ExplicitDeny,
}

/// `*` and `?` wildcards, as in `StringLike`, `Action` and `Resource`.
pub fn like(pattern: &str, s: &str) -> bool {
    let (p, s): (Vec<char>, Vec<char>) = (pattern.chars().collect(), s.chars().collect());
    let (mut pi, mut si) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while si < s.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == s[si]) {
            pi += 1;
            si += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = si;
            pi += 1;
        } else if let Some(st) = star {
            pi = st + 1;
            mark += 1;
            si = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// A string or an array of strings.
fn strings(v: &Value, what: &str) -> Result<Vec<String>, String> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(a) => a
            .iter()
            .map(|x| x.as_str().map(str::to_owned).ok_or_else(|| format!("{what}: {x} is not a string")))
            .collect(),
        other => Err(format!("{what}: {other} is neither a string nor an array")),
    }
}

/// One operator of a `Condition` block on one key.
fn condition(op: &str, key: &str, want: &[String], ctx: &Context) -> Result<bool, String> {
    let have = ctx.get(&key.to_ascii_lowercase()).filter(|v| !v.is_empty());
    let (quantifier, base) = match op.split_once(':') {
        Some(("ForAllValues", base)) => (Some(()), base),
        Some(_) => return Err(format!("condition operator {op} is not supported by this evaluator")),
        None => (None, op),
    };
    let matches = |v: &str| -> Result<bool, String> {
        Ok(match base {
            "StringEquals" => want.iter().any(|w| w == v),
            "StringLike" => want.iter().any(|w| like(w, v)),
            "Bool" => want.iter().any(|w| w.eq_ignore_ascii_case(v)),
            _ => return Err(format!("condition operator {op} is not supported by this evaluator")),
        })
    };
    match (quantifier, base) {
        // Every value of the request is one of the policy's; no value at all passes.
        (Some(()), _) => {
            let mut all = true;
            for v in have.into_iter().flatten() {
                all &= matches(v)?;
            }
            Ok(all)
        }
        (None, "Null") => {
            let want_absent = want.iter().any(|w| w.eq_ignore_ascii_case("true"));
            Ok(have.is_none() == want_absent)
        }
        // A negated operator holds when the key is absent.
        (None, "StringNotEquals") => Ok(have.is_none_or(|h| h.iter().all(|v| !want.contains(v)))),
        (None, _) => match have {
            None => {
                matches("")?; // rejects an unknown operator even when the key is absent
                Ok(false)
            }
            Some(h) => {
                let mut any = false;
                for v in h {
                    any |= matches(v)?;
                }
                Ok(any)
            }
        },
    }
}

/// Whether one statement applies to `req` (its action, resource and every condition).
fn statement_matches(s: &Value, req: &Authz) -> Result<bool, String> {
    let obj = s.as_object().ok_or("a statement is not an object")?;
    for k in obj.keys() {
        if !matches!(k.as_str(), "Sid" | "Effect" | "Action" | "Resource" | "Condition") {
            return Err(format!("statement element {k} is not supported by this evaluator"));
        }
    }
    let actions = strings(obj.get("Action").ok_or("a statement without Action")?, "Action")?;
    if !actions.iter().any(|a| like(&a.to_ascii_lowercase(), &req.action.to_ascii_lowercase())) {
        return Ok(false);
    }
    let resources = strings(obj.get("Resource").ok_or("a statement without Resource")?, "Resource")?;
    if !resources.iter().any(|r| like(r, &req.resource)) {
        return Ok(false);
    }
    if let Some(cond) = obj.get("Condition") {
        let cond = cond.as_object().ok_or("Condition is not an object")?;
        for (op, block) in cond {
            let block = block.as_object().ok_or_else(|| format!("Condition {op} is not an object"))?;
            for (key, want) in block {
                if !condition(op, key, &strings(want, key)?, &req.context)? {
                    return Ok(false);
                }
            }
        }
    }
    Ok(true)
}

/// The decision of `policy` on one authorization: an explicit deny wins, then an allow.
pub fn evaluate(policy: &Value, req: &Authz) -> Result<Decision, String> {
    let stmts = policy["Statement"].as_array().ok_or("the policy has no Statement array")?;
    let mut allowed = false;
    for s in stmts {
        if statement_matches(s, req)? {
            match s["Effect"].as_str() {
                Some("Deny") => return Ok(Decision::ExplicitDeny),
                Some("Allow") => allowed = true,
                other => return Err(format!("Effect {other:?}")),
            }
        }
    }
    Ok(if allowed { Decision::Allow } else { Decision::ImplicitDeny })
}

/// Every authorization of `call` that `policy` does not allow, with its decision.
pub fn denied(policy: &Value, call: &Call) -> Result<Vec<(Authz, Decision)>, String> {
    let mut out = Vec::new();
    for a in authorizations(call)? {
        let d = evaluate(policy, &a)?;
        if d != Decision::Allow {
            out.push((a, d));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
