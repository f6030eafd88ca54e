//! Commands a lender gives a device. They are durable rows: a push to the device is only a
//! hint, the command itself is never lost.

use serde::{Deserialize, Serialize};

/// What the lender asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandKind {
    /// Restrict the device.
    Lock,
    /// Lift a lock.
    Unlock,
    /// Program complete: free the device for ever.
    Release,
}

impl CommandKind {
    /// The stable name used in storage, JSON and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::Lock => "lock",
            CommandKind::Unlock => "unlock",
            CommandKind::Release => "release",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "lock" => CommandKind::Lock,
            "unlock" => CommandKind::Unlock,
            "release" => CommandKind::Release,
            _ => return None,
        })
    }
}

/// Where a command is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CommandStatus {
    /// Scheduled for later.
    Pending,
    /// Took effect on the device's server-side state.
    Applied,
    /// Came due but no longer made sense (a lock for a device that was already locked).
    Superseded,
    /// Dropped because the device was released before it came due.
    Cancelled,
}

impl CommandStatus {
    /// The stable name used in storage and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandStatus::Pending => "pending",
            CommandStatus::Applied => "applied",
            CommandStatus::Superseded => "superseded",
            CommandStatus::Cancelled => "cancelled",
        }
    }

    /// Reads [`Self::as_str`] back.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => CommandStatus::Pending,
            "applied" => CommandStatus::Applied,
            "superseded" => CommandStatus::Superseded,
            "cancelled" => CommandStatus::Cancelled,
            _ => return None,
        })
    }
}
