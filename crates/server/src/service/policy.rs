//! Which policy applies to a contract: the lender's compliance profile and settings, with
//! the contract's overrides, checked against the profile.

use super::ServiceError;
use lienlock_domain::{ComplianceProfile, PolicyOverrides, PolicySettings};
use lienlock_store::{ContractRecord, Lender};

/// The profile and effective settings of `contract` under `lender`.
///
/// Settings saved before a profile tightened may be looser than it today; the engine applies
/// the profile's floors again at evaluation, so this never needs to refuse a stored
/// contract, only to report.
pub(super) fn effective(
    lender: &Lender,
    contract: &ContractRecord,
) -> Result<(&'static ComplianceProfile, PolicySettings), ServiceError> {
    let profile =
        ComplianceProfile::by_name(&lender.compliance_profile).map_err(ServiceError::Policy)?;
    let base = lender.policy.unwrap_or(profile.defaults);
    let settings = match &contract.policy {
        None => base,
        Some(json) => {
            let overrides: PolicyOverrides = serde_json::from_str(json).map_err(|e| {
                ServiceError::Store(lienlock_store::StoreError::Corrupt {
                    table: "contracts",
                    why: format!("policy overrides: {e}"),
                })
            })?;
            base.with_overrides(&overrides)
        }
    };
    Ok((profile, settings))
}

/// Checks overrides a lender asks for on a new contract: valid on their own and no looser
/// than the lender's profile.
pub(super) fn check_overrides(
    lender: &Lender,
    overrides: &PolicyOverrides,
) -> Result<PolicySettings, ServiceError> {
    let profile =
        ComplianceProfile::by_name(&lender.compliance_profile).map_err(ServiceError::Policy)?;
    let settings = lender
        .policy
        .unwrap_or(profile.defaults)
        .with_overrides(overrides);
    settings.validate().map_err(ServiceError::Policy)?;
    profile.check(&settings).map_err(ServiceError::Policy)?;
    Ok(settings)
}
