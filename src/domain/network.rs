//! Where things run, as the configuration names them and the cloud layer resolves them:
//! the VPC, subnets and security groups (by id, by name, or the default VPC's), and the
//! base image of a bake (by id or by the newest of a name pattern).

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VpcRef {
    Default,
    Id(String),
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SubnetRef {
    /// The VPC's default-for-AZ subnets.
    Default,
    Id(String),
    /// A `Name` tag pattern (EC2 wildcards).
    Name(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecurityGroupRef {
    Id(String),
    /// A group name in the environment's VPC.
    Name(String),
}

#[derive(Debug)]
pub struct Network {
    pub vpc: VpcRef,
    pub subnets: Vec<SubnetRef>,
    pub security_groups: Vec<SecurityGroupRef>,
}

/// The base image a bake starts from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BaseAmi {
    Id(String),
    /// The newest available image of `owner` whose name matches `name` (EC2 wildcards).
    Search {
        owner: String,
        name: String,
    },
}
