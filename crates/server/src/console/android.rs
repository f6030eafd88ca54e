//! The device page's Android section: what the phone's Device Lock Controller last told us
//! and was told (`docs/android.md`), and the lender's choices for this phone, the same ones
//! `PUT /v1/devices/{id}/android` sets.

use super::devices::invalid;
use super::{format, ConsoleError, Session};
use crate::app::AppState;
use crate::extract::Path;
use axum::extract::State;
use axum::response::Response;
use axum::Form;
use lienlock_domain::android::{AndroidDeviceConfig, ProvisionType};
use lienlock_domain::{DeviceId, Permission};
use lienlock_store::AndroidDeviceRecord;
use serde::Deserialize;

/// What the template shows.
pub(super) struct AndroidView {
    pub provision_state: &'static str,
    pub last_checkin: String,
    pub failing_since: String,
    pub paused: String,
    pub registered_identifier: String,
    pub program_complete: String,
    pub has_push_token: bool,
    pub hold: bool,
    /// `""` (the lender's), `deferred` or `mandatory`.
    pub provision_type: &'static str,
    /// `""` (the lender's), `yes` or `no`.
    pub force: &'static str,
    pub allow_debugging: bool,
    /// Whether the signed-in role may change the choices.
    pub allowed: bool,
}

impl AndroidView {
    pub(super) fn new(r: &AndroidDeviceRecord, allowed: bool) -> Self {
        let time = |t: Option<lienlock_domain::Timestamp>| t.map_or("never".into(), format::time);
        Self {
            provision_state: r.provision_state.as_str(),
            last_checkin: time(r.last_checkin_at),
            failing_since: r.failing_since.map_or("-".into(), format::time),
            paused: r.paused_at.map_or("-".into(), format::time),
            registered_identifier: r.registered_identifier.clone().unwrap_or("-".into()),
            program_complete: r.program_complete_at.map_or("-".into(), format::time),
            has_push_token: r.fcm_token.is_some(),
            hold: r.config.hold,
            provision_type: match r.config.provision_type {
                None => "",
                Some(ProvisionType::Deferred) => "deferred",
                Some(ProvisionType::Mandatory) => "mandatory",
            },
            force: match r.config.force_provisioning {
                None => "",
                Some(true) => "yes",
                Some(false) => "no",
            },
            allow_debugging: r.config.allow_debugging,
            allowed,
        }
    }
}

/// The form. Unticked checkboxes are absent, hence the defaults.
#[derive(Deserialize)]
pub(super) struct AndroidForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    hold: Option<String>,
    #[serde(default)]
    provision_type: String,
    #[serde(default)]
    force: String,
    #[serde(default)]
    allow_debugging: Option<String>,
}

impl AndroidForm {
    fn config(&self) -> Result<AndroidDeviceConfig, ConsoleError> {
        let ticked = |v: &Option<String>| v.as_deref() == Some("yes");
        Ok(AndroidDeviceConfig {
            hold: ticked(&self.hold),
            provision_type: match self.provision_type.as_str() {
                "" => None,
                "deferred" => Some(ProvisionType::Deferred),
                "mandatory" => Some(ProvisionType::Mandatory),
                _ => return Err(invalid("provision_type", "must be deferred or mandatory")),
            },
            force_provisioning: match self.force.as_str() {
                "" => None,
                "yes" => Some(true),
                "no" => Some(false),
                _ => return Err(invalid("force", "must be yes or no")),
            },
            allow_debugging: ticked(&self.allow_debugging),
        })
    }
}

/// `POST /console/devices/{id}/android`.
pub(super) async fn save(
    State(state): State<AppState>,
    session: Session,
    Path(id): Path<String>,
    Form(f): Form<AndroidForm>,
) -> Result<Response, ConsoleError> {
    // As for actions: a forged form learns nothing, not even whether the device exists.
    session.check_csrf(&f.csrf)?;
    let id = super::devices::device_id(&id)?;
    let config = f.config()?;
    state
        .service
        .set_android_device(&session.0.ctx, id, config)
        .await?;
    super::devices::device_page(
        &state,
        &session,
        id,
        Some("Android settings saved. The phone gets them at its next check-in.".into()),
    )
    .await
}

/// The section for `id`, as the signed-in user may see it.
pub(super) async fn view(
    state: &AppState,
    session: &Session,
    id: DeviceId,
) -> Result<AndroidView, ConsoleError> {
    let ctx = &session.0.ctx;
    let record = state.service.android_device(ctx, id).await?;
    Ok(AndroidView::new(
        &record,
        ctx.role.allows(Permission::Command),
    ))
}
