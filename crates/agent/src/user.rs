//! The partition a factory reset wipes: the held lease, and when the partition was begun.
//!
//! Everything here is advisory in the safe direction: losing it leaves the device with no
//! lease, which locks it until the next successful check-in.
//!
//! `install.json` records the check-in counter the device had used when this partition was
//! begun. The counter lives in the persistent partition, so a phone that was reset starts a
//! new user partition with its counter well above 0, and says so in every check-in
//! (`user_since`): that is how the server tells a factory reset, without the device having
//! to report one.

use crate::atomic;
use crate::error::AgentError;
use crate::layout::Layout;
use crate::verify::{self, VerifiedLease, Verifier};
use lienlock_wire::LeaseEnvelope;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;

#[derive(Serialize, Deserialize)]
struct Install {
    since_counter: u64,
}

/// The check-in counter already used when this user partition was begun, recording it now
/// if the partition has no record: `counter` (the counter now) for a partition begun just
/// now, 0 for one that already holds a lease (made before this record existed, by an older
/// agent, so as old as anyone can tell). A record that cannot be written is logged; the
/// value still serves this run.
pub(crate) fn install_since(layout: &Layout, counter: u64) -> u64 {
    let path = layout.install();
    if let Some(i) = atomic::read(&path)
        .ok()
        .flatten()
        .and_then(|b| serde_json::from_slice::<Install>(&b).ok())
    {
        return i.since_counter;
    }
    let since = if layout.lease().exists() { 0 } else { counter };
    let json = serde_json::to_vec(&Install {
        since_counter: since,
    })
    .unwrap_or_default();
    if let Err(e) = atomic::write(&path, &json) {
        tracing::warn!(path = %path.display(), error = %e, "cannot record when the user partition began");
    }
    since
}

/// The held lease, if one is on disk and still verifies.
pub(crate) fn read_lease(layout: &Layout, verifier: &Verifier) -> Option<VerifiedLease> {
    verifier.load(&layout.lease())
}

pub(crate) fn write_lease(layout: &Layout, envelope: &LeaseEnvelope) -> io::Result<()> {
    verify::store(&layout.lease(), envelope)
}

/// Empties the user partition, leaving the directory in place.
pub(crate) fn wipe(layout: &Layout) -> Result<(), AgentError> {
    let dir = layout.user_dir();
    match fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(AgentError::io(&dir, e)),
    }
    atomic::create_dir(&dir).map_err(|e| AgentError::io(&dir, e))
}
