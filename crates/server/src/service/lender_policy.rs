//! A lender's compliance profile and policy settings.

use super::{Service, ServiceError};
use lienlock_domain::Permission;
use lienlock_domain::{ComplianceProfile, LenderCtx, PolicySettings};

/// A lender's policy as configured.
#[derive(Debug, Clone)]
pub struct LenderPolicy {
    /// The compliance profile.
    pub profile: &'static ComplianceProfile,
    /// The settings in force (the profile's defaults when the lender set none).
    pub settings: PolicySettings,
    /// Whether the settings are the profile's defaults.
    pub defaults: bool,
}

impl Service {
    /// The caller's profile and settings.
    pub async fn lender_policy(&self, ctx: &LenderCtx) -> Result<LenderPolicy, ServiceError> {
        let lender = self.lender(ctx).await?;
        let profile =
            ComplianceProfile::by_name(&lender.compliance_profile).map_err(ServiceError::Policy)?;
        Ok(LenderPolicy {
            profile,
            settings: lender.policy.unwrap_or(profile.defaults),
            defaults: lender.policy.is_none(),
        })
    }

    /// Picks a compliance profile and (optionally) settings, refusing settings that are
    /// invalid or looser than the profile. Admins only.
    pub async fn set_lender_policy(
        &self,
        ctx: &LenderCtx,
        profile: &str,
        settings: Option<PolicySettings>,
    ) -> Result<LenderPolicy, ServiceError> {
        ctx.require(Permission::ManagePolicy)?;
        let profile = ComplianceProfile::by_name(profile).map_err(ServiceError::Policy)?;
        let effective = settings.unwrap_or(profile.defaults);
        effective.validate().map_err(ServiceError::Policy)?;
        profile.check(&effective).map_err(ServiceError::Policy)?;
        self.store
            .set_lender_policy(ctx, profile.name, settings.as_ref(), self.clock.now())
            .await?;
        Ok(LenderPolicy {
            profile,
            settings: effective,
            defaults: settings.is_none(),
        })
    }
}
