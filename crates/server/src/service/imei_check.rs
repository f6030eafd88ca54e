//! The public IMEI check: may a buyer safely pay for this used phone?
//!
//! Answers from the enrollment alone, with nothing personal: not the borrower, not the
//! amounts, not the device's id. A lookup of a phone under a program is put on its
//! timeline (without anything about who asked), so the lender sees that the phone may be
//! for sale.

use super::{Service, ServiceError};
use lienlock_domain::{DeviceState, EventKind, Imei, KeyStatus, RestrictionLevel};
use lienlock_store::{Actor, TimelineEvent};

/// What a buyer learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImeiStatus {
    /// The IMEI looked up.
    pub imei: Imei,
    /// The verdict.
    pub status: ImeiVerdict,
    /// The lender to settle with, when under a program (its public contacts only).
    pub lender: Option<PublicLender>,
}

/// The three answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImeiVerdict {
    /// No financing program here holds the phone (never enrolled, or paid off and released).
    Clear,
    /// Under a financing program and working: the seller still owes on it.
    Financed,
    /// Under a program and locked (or restricted) for non-payment or by the lender.
    Locked,
}

impl ImeiVerdict {
    /// `clear`, `financed` or `locked`.
    pub fn as_str(self) -> &'static str {
        match self {
            ImeiVerdict::Clear => "clear",
            ImeiVerdict::Financed => "financed",
            ImeiVerdict::Locked => "locked",
        }
    }

    /// What to do, in plain words.
    pub fn advice(self, lender: Option<&PublicLender>) -> String {
        let name = lender.map_or("the lender", |l| l.name.as_str());
        match self {
            ImeiVerdict::Clear => "No financing program in this service holds this phone. \
                 Check the phone itself (that it powers on, is not reported stolen) as usual."
                .into(),
            ImeiVerdict::Financed => format!(
                "This phone is still being paid for under a financing program with {name}. \
                 It can be locked if payments stop. Ask the seller to settle with {name} \
                 before you pay, or walk away."
            ),
            ImeiVerdict::Locked => format!(
                "This phone is locked by {name} under a financing program. Do not buy it \
                 unless the seller settles with {name} first."
            ),
        }
    }
}

/// A lender as the public may see it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct PublicLender {
    /// Name.
    pub name: String,
    /// Support phone.
    pub support_phone: String,
    /// Support or payment URL.
    pub support_url: String,
}

impl Service {
    /// Looks an IMEI up for a buyer. `text` is what they typed (spaces and dashes are
    /// ignored); an IMEI that fails its check digit is refused.
    pub async fn check_imei(&self, text: &str) -> Result<ImeiStatus, ServiceError> {
        let digits: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect();
        let imei = Imei::parse(&digits).map_err(ServiceError::InvalidImei)?;
        let Some(device) = self.store.device_for_checkin(&imei).await? else {
            return Ok(ImeiStatus {
                imei,
                status: ImeiVerdict::Clear,
                lender: None,
            });
        };
        if device.state == DeviceState::Released {
            return Ok(ImeiStatus {
                imei,
                status: ImeiVerdict::Clear,
                lender: None,
            });
        }
        let locked = device.state == DeviceState::Locked
            || device.key_status == KeyStatus::ChangePending
            || device.policy_level >= RestrictionLevel::RestrictedApps;
        let lender = self
            .store
            .lender_by_id(device.lender_id)
            .await?
            .map(|l| PublicLender {
                name: l.name,
                support_phone: l.support_phone,
                support_url: l.support_url,
            });
        let mut e = TimelineEvent::new(
            &device,
            self.clock.now(),
            EventKind::ImeiChecked,
            Actor::Public,
        );
        e.detail = Some("someone looked this phone's IMEI up in the public check".into());
        // The answer does not depend on the entry: losing it loses a hint to the lender.
        if let Err(err) = self.store.append_events(&[e]).await {
            tracing::warn!(error = %err, "cannot record an IMEI check on the timeline");
        }
        Ok(ImeiStatus {
            imei,
            status: if locked {
                ImeiVerdict::Locked
            } else {
                ImeiVerdict::Financed
            },
            lender,
        })
    }
}
