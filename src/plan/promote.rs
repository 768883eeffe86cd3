//! The promote planner: the AMI live and fully healthy in the source environment is
//! deployed, unchanged, to the target. Another account gets launch permission first (a
//! step run in the source account); another region gets an encrypted copy. All of it
//! runs under the target cluster's lease.

use super::{Ami, Plan, Step};

/// How the source's AMI reaches the target.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Carry {
    /// Same region: the same AMI id (shared first when the account differs).
    Same { ami: String, share_with: Option<String> },
    /// Another region, copy already made (by an earlier run): its id.
    Copied { copy: String, share_with: Option<String>, source: String },
    /// Another region, no copy yet: share (if needed), copy, wait; then deploy the copy.
    Copy { source: String, from_region: String, name: String, tags: Vec<(String, String)>, share_with: Option<String> },
}

/// The steps that bring the AMI to the target: they run before the deploy plan.
pub fn carry_steps(c: &Carry, image_timeout_s: u64) -> Vec<Step> {
    let share = |ami: &str, to: &Option<String>| {
        to.iter().map(|account| Step::ShareImage { ami: ami.to_owned(), account: account.clone() }).collect::<Vec<_>>()
    };
    match c {
        Carry::Same { ami, share_with } => share(ami, share_with),
        // A copy exists, so the source was shared already (when it had to be).
        Carry::Copied { .. } => vec![],
        Carry::Copy { source, from_region, name, tags, share_with } => {
            let mut steps = share(source, share_with);
            steps.push(Step::CopyImage {
                ami: source.clone(),
                from_region: from_region.clone(),
                name: name.clone(),
                tags: tags.clone(),
            });
            steps.push(Step::WaitImageAvailable { ami: Ami::Created, timeout_s: image_timeout_s });
            steps
        }
    }
}

/// The deploy plan with the carrying steps in front.
pub fn with_carry(mut deploy: Plan, carry: Vec<Step>, from: &str) -> Plan {
    if !carry.is_empty() || !deploy.steps.is_empty() {
        let mut steps = carry;
        steps.append(&mut deploy.steps);
        deploy.steps = steps;
    }
    if deploy.outcome == super::Outcome::Deployed {
        deploy.message = format!("{}; promoted from {from}", deploy.message);
    }
    deploy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn carrying() {
        let same = Carry::Same { ami: "ami-1".into(), share_with: None };
        assert!(carry_steps(&same, 60).is_empty(), "same account and region: nothing to carry");
        let shared = Carry::Same { ami: "ami-1".into(), share_with: Some("222".into()) };
        assert_eq!(
            carry_steps(&shared, 60).iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            ["share ami-1 and its snapshots with account 222"]
        );
        let copy = Carry::Copy {
            source: "ami-1".into(),
            from_region: "us-east-1".into(),
            name: "drydock/www/1/abc".into(),
            tags: vec![],
            share_with: None,
        };
        assert_eq!(
            carry_steps(&copy, 60).iter().map(|s| s.to_string()).collect::<Vec<_>>(),
            [
                "copy ami-1 (drydock/www/1/abc) from us-east-1, encrypted",
                "wait until the new image is available (timeout 60s)"
            ]
        );
        let copied = Carry::Copied { copy: "ami-2".into(), share_with: None, source: "ami-1".into() };
        assert!(carry_steps(&copied, 60).is_empty());
    }
}
