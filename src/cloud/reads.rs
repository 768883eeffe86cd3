//! What a cluster is made of (its ELB, release groups and release launch templates), read
//! for many services at once by group commit (`batch.rs`). A lone service costs what it
//! always did (three calls); 100 services rolling at once cost a call per 20 ELBs, per 5
//! clusters' groups and per 50 clusters' launch templates instead of three each, which
//! leaves the classic ELB and Auto Scaling budgets (40, 10/s) to the writes that create
//! the new releases (issue 13).

use std::collections::BTreeMap;

use super::batch::{all, GroupCommit};
use super::{elb, groups, launch_templates, Cloud, CloudError, CloudResult};
use crate::domain::cluster::{ObservedElb, ObservedGroup, TemplateOf};
use crate::domain::ClusterName;

/// A cluster as read, without the ELB's instance health (read per ELB afterwards).
#[derive(Clone, Debug, Default)]
pub struct ClusterReads {
    pub elb: Option<ObservedElb>,
    pub groups: Vec<ObservedGroup>,
    pub launch_templates: BTreeMap<u16, TemplateOf>,
}

/// Services waiting to be read, by (cluster, its ELB's name).
pub type Reads = GroupCommit<(ClusterName, String), ClusterReads>;

/// `cluster` behind `elb`, read in the next batch of the command's cluster reads.
pub async fn read(cloud: &Cloud, cluster: &ClusterName, elb: &str) -> CloudResult<ClusterReads> {
    let asked = (cluster.clone(), elb.to_owned());
    cloud.reads.submit(asked, async |batch| all(batch.len(), read_batch(cloud, &batch).await)).await
}

/// The reads of `asked`, in its order. One cluster: by its own name (what a single
/// service has always cost). More: the ELBs by name, the groups and the launch templates
/// by tag filters naming the clusters, the three services' calls at the same time.
async fn read_batch(cloud: &Cloud, asked: &[(ClusterName, String)]) -> Result<Vec<ClusterReads>, CloudError> {
    if let [(cluster, elb_name)] = asked {
        let (elb, groups, launch_templates) = tokio::try_join!(
            elb::describe_one(cloud, elb_name),
            groups::describe_cluster(cloud, cluster, elb_name),
            launch_templates::of_cluster(cloud, cluster),
        )?;
        return Ok(vec![ClusterReads { elb, groups, launch_templates }]);
    }
    let mut elb_names: Vec<&str> = asked.iter().map(|(_, e)| e.as_str()).collect();
    elb_names.sort_unstable();
    elb_names.dedup();
    let mut clusters: Vec<&str> = asked.iter().map(|(c, _)| c.as_str()).collect();
    clusters.sort_unstable();
    clusters.dedup();
    let (elbs, groups_by, templates_by) = tokio::try_join!(
        elb::describe_many(cloud, &elb_names),
        groups::describe_clusters(cloud, &clusters),
        launch_templates::of_clusters(cloud, &clusters),
    )?;
    Ok(asked
        .iter()
        .map(|(cluster, elb_name)| ClusterReads {
            elb: elbs.get(elb_name).cloned(),
            groups: groups::releases_of(&groups_by, cluster, elb_name),
            launch_templates: launch_templates::releases_of(&templates_by, cluster),
        })
        .collect())
}
