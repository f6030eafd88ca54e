//! The partition a factory reset wipes: the held lease.
//!
//! Everything here is advisory in the safe direction: losing it leaves the device with no
//! lease, which locks it until the next successful check-in.

use crate::atomic;
use crate::error::AgentError;
use crate::layout::Layout;
use crate::verify::{self, VerifiedLease, Verifier};
use lienlock_wire::LeaseEnvelope;
use std::fs;
use std::io;

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
