//! The pure core: names, image references, durations and the grammars that every value
//! reaching a shell script, an init file, an nginx file or an AWS name must satisfy.
//! Nothing here knows about the AWS SDK, the clock or the file system.

pub mod alarm;
pub mod bake;
pub mod cluster;
pub mod console;
pub mod duration;
pub mod grammar;
pub mod health;
pub mod image;
pub mod lease;
pub mod names;
pub mod network;
pub mod scaling;
pub mod secret;
pub mod settings;

pub use duration::Duration;
pub use image::{Digest, ImageRef, ImageRepo, ImageTag, Pin};
pub use names::{AmiName, ClusterName, ElbName, EnvName, ReleaseName, ServiceName};
