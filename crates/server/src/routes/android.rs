//! The lender API for the Android channel (`docs/android.md`): the lender's settings, the
//! key its phones check in with, and each phone's configuration and state.

use super::{Access, Routes};
use crate::app::AppState;
use crate::auth::Lender;
use crate::error::ApiError;
use crate::extract::{Json, Path};
use crate::views::rfc3339;
use axum::extract::State;
use axum::http::{Method, StatusCode};
use axum::routing::{get, post, put};
use lienlock_domain::android::{AndroidDeviceConfig, AndroidSettings, ProvisionType};
use lienlock_domain::{DeviceId, Permission};
use lienlock_store::{AndroidDeviceRecord, AndroidSettingsRecord};
use serde::{Deserialize, Serialize};

pub(super) fn routes() -> Routes {
    let read = Access::Lender(Permission::ReadDevices);
    Routes::new()
        .add(Method::GET, "/v1/lender/android", read, get(show))
        .add(
            Method::PUT,
            "/v1/lender/android",
            Access::Lender(Permission::ManagePolicy),
            put(set),
        )
        .add(
            Method::POST,
            "/v1/lender/android/key",
            Access::Lender(Permission::ManageKeys),
            post(issue_key),
        )
        .add(Method::GET, "/v1/devices/{id}/android", read, get(device))
        .add(
            Method::PUT,
            "/v1/devices/{id}/android",
            Access::Lender(Permission::Command),
            put(set_device),
        )
}

impl crate::openapi::Operations {
    /// The operations of this file.
    pub(crate) fn android() -> utoipa::openapi::OpenApi {
        #[derive(utoipa::OpenApi)]
        #[openapi(paths(show, set, issue_key, device, set_device))]
        struct Doc;
        <Doc as utoipa::OpenApi>::openapi()
    }
}

type ApiResult<T> = Result<T, ApiError>;

/// What the lender's phones provision with (`AndroidSettings`).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AndroidSettings)]
struct SettingsBody {
    /// Shown as the kiosk app's provider.
    kiosk_app_provider_name: String,
    /// The lender's kiosk app: `com.acme.pay`.
    kiosk_app_package: String,
    /// Its activity run in lock-task mode while locked.
    kiosk_app_main_activity: String,
    /// Further packages allowed while locked (the dialer and emergency alerts always are).
    #[serde(default)]
    kiosk_app_allowlist_packages: Vec<String>,
    #[serde(default)]
    kiosk_app_enable_outgoing_calls: bool,
    #[serde(default)]
    kiosk_app_enable_notifications: bool,
    #[serde(default)]
    disallow_installing_from_unknown_sources: bool,
    #[serde(default)]
    terms_and_conditions_url: String,
    #[serde(default)]
    support_url: String,
    /// `deferred` (after the setup wizard) or `mandatory` (during it).
    #[schema(pattern = "^(deferred|mandatory)$")]
    provision_type: String,
    /// Whether the borrower may not postpone provisioning.
    #[serde(default)]
    force_provisioning: bool,
    /// Mobile country codes of the countries phones may be provisioned in; empty: all.
    #[serde(default)]
    approved_mccs: Vec<String>,
    /// Days a mandatory provisioning may keep failing before the phone is told to reset;
    /// 0: never.
    #[serde(default)]
    factory_reset_after_days: u32,
    /// Minutes a phone that is known but not ready waits before checking in again.
    retry_checkin_minutes: u32,
}

fn provision_type(s: &str) -> Result<ProvisionType, ApiError> {
    match s {
        "deferred" => Ok(ProvisionType::Deferred),
        "mandatory" => Ok(ProvisionType::Mandatory),
        other => Err(ApiError::InvalidBody(format!(
            "provision_type must be deferred or mandatory, not {other:?}"
        ))),
    }
}

fn type_name(t: ProvisionType) -> &'static str {
    match t {
        ProvisionType::Deferred => "deferred",
        ProvisionType::Mandatory => "mandatory",
    }
}

impl SettingsBody {
    fn into_domain(self) -> Result<AndroidSettings, ApiError> {
        Ok(AndroidSettings {
            provision_type: provision_type(&self.provision_type)?,
            kiosk_app_provider_name: self.kiosk_app_provider_name,
            kiosk_app_package: self.kiosk_app_package,
            kiosk_app_main_activity: self.kiosk_app_main_activity,
            kiosk_app_allowlist_packages: self.kiosk_app_allowlist_packages,
            kiosk_app_enable_outgoing_calls: self.kiosk_app_enable_outgoing_calls,
            kiosk_app_enable_notifications: self.kiosk_app_enable_notifications,
            disallow_installing_from_unknown_sources: self.disallow_installing_from_unknown_sources,
            terms_and_conditions_url: self.terms_and_conditions_url,
            support_url: self.support_url,
            force_provisioning: self.force_provisioning,
            approved_mccs: self.approved_mccs,
            factory_reset_after_days: self.factory_reset_after_days,
            retry_checkin_minutes: self.retry_checkin_minutes,
        })
    }

    fn from_domain(s: AndroidSettings) -> Self {
        Self {
            provision_type: type_name(s.provision_type).to_owned(),
            kiosk_app_provider_name: s.kiosk_app_provider_name,
            kiosk_app_package: s.kiosk_app_package,
            kiosk_app_main_activity: s.kiosk_app_main_activity,
            kiosk_app_allowlist_packages: s.kiosk_app_allowlist_packages,
            kiosk_app_enable_outgoing_calls: s.kiosk_app_enable_outgoing_calls,
            kiosk_app_enable_notifications: s.kiosk_app_enable_notifications,
            disallow_installing_from_unknown_sources: s.disallow_installing_from_unknown_sources,
            terms_and_conditions_url: s.terms_and_conditions_url,
            support_url: s.support_url,
            force_provisioning: s.force_provisioning,
            approved_mccs: s.approved_mccs,
            factory_reset_after_days: s.factory_reset_after_days,
            retry_checkin_minutes: s.retry_checkin_minutes,
        }
    }
}

/// The lender's Android channel.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AndroidChannel)]
struct ChannelView {
    /// Null until set.
    #[schema(required)]
    settings: Option<SettingsBody>,
    /// Whether a check-in key was issued.
    has_checkin_key: bool,
    #[schema(format = DateTime, required)]
    updated_at: Option<String>,
}

impl From<Option<AndroidSettingsRecord>> for ChannelView {
    fn from(r: Option<AndroidSettingsRecord>) -> Self {
        match r {
            None => Self {
                settings: None,
                has_checkin_key: false,
                updated_at: None,
            },
            Some(r) => Self {
                has_checkin_key: r.key_hash.is_some(),
                updated_at: Some(rfc3339(r.updated_at)),
                settings: Some(SettingsBody::from_domain(r.settings)),
            },
        }
    }
}

/// The caller's Android settings.
#[utoipa::path(
    get,
    path = "/v1/lender/android",
    operation_id = "get_android_settings",
    tag = "android",
    security(("api_key" = [])),
    responses((status = 200, description = "The Android channel", body = ChannelView)),
)]
async fn show(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> ApiResult<axum::Json<ChannelView>> {
    Ok(axum::Json(s.service.android_settings(&ctx).await?.into()))
}

/// Sets what the caller's phones provision with.
#[utoipa::path(
    put,
    path = "/v1/lender/android",
    operation_id = "set_android_settings",
    tag = "android",
    security(("api_key" = [])),
    request_body = SettingsBody,
    responses(
        (status = 200, description = "Set", body = ChannelView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 422, description = "`invalid_request`: a package name, country code or \
         number out of range", body = crate::error::Body),
    ),
)]
async fn set(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Json(b): Json<SettingsBody>,
) -> ApiResult<axum::Json<ChannelView>> {
    let record = s
        .service
        .set_android_settings(&ctx, b.into_domain()?)
        .await?;
    Ok(axum::Json(Some(record).into()))
}

/// A new check-in key, shown once.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AndroidKey)]
struct KeyView {
    /// The value phones send in the configured metadata header. The previous key stops
    /// working now.
    key: String,
}

/// Issues the key the caller's phones check in with, replacing the previous one.
#[utoipa::path(
    post,
    path = "/v1/lender/android/key",
    operation_id = "issue_android_key",
    tag = "android",
    security(("api_key" = [])),
    responses(
        (status = 201, description = "Issued", body = KeyView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 422, description = "`invalid_request`: no Android settings yet",
         body = crate::error::Body),
    ),
)]
async fn issue_key(
    State(s): State<AppState>,
    Lender(ctx): Lender,
) -> ApiResult<(StatusCode, axum::Json<KeyView>)> {
    let key = s.service.issue_android_key(&ctx).await?;
    Ok((StatusCode::CREATED, axum::Json(KeyView { key })))
}

/// The lender's choices for one phone (`AndroidDeviceConfig`).
#[derive(Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = AndroidDeviceConfig)]
struct DeviceConfigBody {
    /// Answer `RETRY_CHECKIN` instead of provisioning (the contract is not signed yet).
    #[serde(default)]
    hold: bool,
    /// `deferred` or `mandatory`; null: the lender's.
    #[schema(pattern = "^(deferred|mandatory)$")]
    provision_type: Option<String>,
    /// Null: the lender's.
    force_provisioning: Option<bool>,
    /// A lender's test phone may be debugged.
    #[serde(default)]
    allow_debugging: bool,
}

/// One phone on the Android channel.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = AndroidDevice)]
struct DeviceView {
    config: DeviceConfigBody,
    /// What the phone was last told after a provisioning report: `unspecified`, `retry`,
    /// `dismissible_ui`, `persistent_ui`, `factory_reset` or `success`.
    provision_state: &'static str,
    #[schema(format = DateTime, required)]
    failing_since: Option<String>,
    #[schema(format = DateTime, required)]
    last_checkin_at: Option<String>,
    #[schema(format = DateTime, required)]
    paused_at: Option<String>,
    /// Whether the phone sent a push token.
    has_fcm_token: bool,
    /// The identifier the phone was told to use.
    #[schema(required)]
    registered_identifier: Option<String>,
    #[schema(format = DateTime, required)]
    program_complete_at: Option<String>,
}

impl From<AndroidDeviceRecord> for DeviceView {
    fn from(r: AndroidDeviceRecord) -> Self {
        let t = |v: Option<lienlock_domain::Timestamp>| v.map(rfc3339);
        Self {
            config: DeviceConfigBody {
                hold: r.config.hold,
                provision_type: r.config.provision_type.map(|p| type_name(p).to_owned()),
                force_provisioning: r.config.force_provisioning,
                allow_debugging: r.config.allow_debugging,
            },
            provision_state: r.provision_state.as_str(),
            failing_since: t(r.failing_since),
            last_checkin_at: t(r.last_checkin_at),
            paused_at: t(r.paused_at),
            has_fcm_token: r.fcm_token.is_some(),
            registered_identifier: r.registered_identifier,
            program_complete_at: t(r.program_complete_at),
        }
    }
}

/// A phone's configuration and state on the Android channel.
#[utoipa::path(
    get,
    path = "/v1/devices/{id}/android",
    operation_id = "get_device_android",
    tag = "android",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    responses(
        (status = 200, description = "The phone on the Android channel", body = DeviceView),
        (status = 404, description = "`not_found`", body = crate::error::Body),
    ),
)]
async fn device(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
) -> ApiResult<axum::Json<DeviceView>> {
    Ok(axum::Json(s.service.android_device(&ctx, id).await?.into()))
}

/// Sets the lender's choices for one phone.
#[utoipa::path(
    put,
    path = "/v1/devices/{id}/android",
    operation_id = "set_device_android",
    tag = "android",
    security(("api_key" = [])),
    params(("id" = String, Path, format = "uuid", description = "Device id")),
    request_body = DeviceConfigBody,
    responses(
        (status = 200, description = "Set", body = DeviceView),
        (status = 403, description = "`forbidden`", body = crate::error::Body),
        (status = 404, description = "`not_found`", body = crate::error::Body),
        (status = 422, description = "`invalid_request`: the phone is released",
            body = crate::error::Body),
    ),
)]
async fn set_device(
    State(s): State<AppState>,
    Lender(ctx): Lender,
    Path(id): Path<DeviceId>,
    Json(b): Json<DeviceConfigBody>,
) -> ApiResult<axum::Json<DeviceView>> {
    let config = AndroidDeviceConfig {
        hold: b.hold,
        provision_type: b
            .provision_type
            .as_deref()
            .map(provision_type)
            .transpose()?,
        force_provisioning: b.force_provisioning,
        allow_debugging: b.allow_debugging,
    };
    Ok(axum::Json(
        s.service.set_android_device(&ctx, id, config).await?.into(),
    ))
}
