//! Opaque identifiers. Each entity has its own newtype so a device id can never be passed
//! where a lender id is expected. They are UUIDv7: unique without coordination between server
//! nodes, and ordered by creation time, which keyset pagination relies on.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered identifier.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            /// Wraps an existing UUID (read back from storage or the wire).
            pub fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }

            /// The 16 bytes used in signed wire messages.
            pub fn to_bytes(&self) -> [u8; 16] {
                *self.0.as_bytes()
            }

            /// Reads the 16 bytes written by [`Self::to_bytes`].
            pub fn from_bytes(bytes: [u8; 16]) -> Self {
                Self(Uuid::from_bytes(bytes))
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }
    };
}

id_type!(
    /// A lender (tenant).
    LenderId
);
id_type!(
    /// A financed device enrolled by a lender.
    DeviceId
);
id_type!(
    /// An API key; the key's secret part is never stored, only its HMAC.
    ApiKeyId
);
id_type!(
    /// A person who signs in to the lender console.
    UserId
);
id_type!(
    /// A lock, unlock or release command.
    CommandId
);
id_type!(
    /// One entry on a device's timeline.
    EventId
);
id_type!(
    /// An installment contract attached to a device.
    ContractId
);
id_type!(
    /// One entry in a contract's payments ledger (a payment or a reversal).
    PaymentId
);
id_type!(
    /// A notice queued for delivery to a device (reminder or lock notice).
    NoticeId
);
id_type!(
    /// A dispute opened by a borrower or by support.
    DisputeId
);
id_type!(
    /// An offline unlock code issued for a device.
    UnlockCodeId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text_and_bytes() {
        let id = DeviceId::new();
        assert_eq!(id.to_string().parse::<DeviceId>().unwrap(), id);
        assert_eq!(DeviceId::from_bytes(id.to_bytes()), id);
    }

    #[test]
    fn later_ids_sort_after_earlier_ones() {
        let a = DeviceId::new();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = DeviceId::new();
        assert!(a.to_string() < b.to_string());
    }
}
