//! lienlock's domain: the types and rules every other crate shares.
//!
//! Nothing here does I/O, touches HTTP or SQL, or reads the clock by itself: time comes in
//! as a [`Timestamp`] from an injected [`Clock`], so every rule is a deterministic function
//! that tests can drive.

pub mod command;
pub mod device;
pub mod ids;
pub mod imei;
pub mod lender;
pub mod profile;
pub mod text;
pub mod time;
pub mod timeline;

pub use command::{CommandKind, CommandStatus};
pub use device::{DeviceState, KeyStatus, LeaseState, TransitionError};
pub use ids::{ApiKeyId, CommandId, DeviceId, EventId, LenderId};
pub use imei::{Imei, ImeiError};
pub use lender::{LenderCtx, Role};
pub use profile::{Capability, ProfileError, RestrictionLevel, RestrictionProfile};
pub use text::{BoundedText, TextError};
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use timeline::EventKind;
