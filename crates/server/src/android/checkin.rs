//! `devicelockcontroller.DeviceLockCheckinService`: messages to use cases and back.

use super::{status, Phones};
use crate::service::CheckinRequest;
use lienlock_android::proto::device_lock_checkin_service_server::DeviceLockCheckinService;
use lienlock_android::proto::get_device_checkin_status_response::NextSteps;
use lienlock_android::proto::*;
use lienlock_domain::android::{
    parse_phone_id, parse_registered, AndroidSettings, CheckinAnswer, IdKind, PhoneId,
    ProvisionState, ProvisionType,
};
use lienlock_domain::Timestamp;
use tonic::{Request, Response, Status};

/// The identifiers a phone sent that can be read. Some may not (a hexadecimal MEID): they
/// are skipped; a request with none left is malformed.
fn identifiers(ids: &[ClientDeviceIdentifier]) -> Result<Vec<(PhoneId, String)>, Status> {
    if ids.len() > 16 {
        return Err(Status::invalid_argument(
            "at most 16 client_device_identifiers",
        ));
    }
    let read: Vec<_> = ids
        .iter()
        .filter_map(|id| {
            let text = id.device_identifier.as_deref()?.trim();
            let kind = match id
                .device_identifier_type
                .map(DeviceIdentifierType::try_from)
            {
                Some(Ok(DeviceIdentifierType::Imei)) => Some(IdKind::Imei),
                Some(Ok(DeviceIdentifierType::Meid)) => Some(IdKind::Meid),
                Some(Ok(DeviceIdentifierType::Serial)) => Some(IdKind::Serial),
                _ => None,
            };
            let parsed = match kind {
                Some(k) => parse_phone_id(k, text),
                None => parse_registered(text),
            };
            parsed.map(|p| (p, text.to_owned()))
        })
        .collect();
    if read.is_empty() {
        return Err(Status::invalid_argument(
            "no client_device_identifier is a valid IMEI, MEID or serial number",
        ));
    }
    Ok(read)
}

/// A present, non-empty MCC/MNC must be 5 or 6 digits.
fn mccmnc(value: Option<&str>) -> Result<Option<String>, Status> {
    match value.map(str::trim).filter(|m| !m.is_empty()) {
        None => Ok(None),
        Some(m) if (5..=6).contains(&m.len()) && m.bytes().all(|b| b.is_ascii_digit()) => {
            Ok(Some(m.to_owned()))
        }
        Some(_) => Err(Status::invalid_argument(
            "carrier_mccmnc must be 5 or 6 digits",
        )),
    }
}

fn timestamp(t: Timestamp) -> prost_types::Timestamp {
    let ms = t.as_millis();
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: i32::try_from(ms.rem_euclid(1000) * 1_000_000).unwrap_or(0),
    }
}

fn provision_type(t: ProvisionType) -> DeviceProvisionType {
    match t {
        ProvisionType::Deferred => DeviceProvisionType::Deferred,
        ProvisionType::Mandatory => DeviceProvisionType::Mandatory,
    }
}

fn configuration(s: &AndroidSettings) -> ConfigurationInfo {
    let text = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    ConfigurationInfo {
        kiosk_app_provider_name: text(&s.kiosk_app_provider_name),
        kiosk_app_package: Some(s.kiosk_app_package.clone()),
        kiosk_app_main_activity: Some(s.kiosk_app_main_activity.clone()),
        kiosk_app_allowlist_packages: s.kiosk_app_allowlist_packages.clone(),
        kiosk_app_enable_outgoing_calls: Some(s.kiosk_app_enable_outgoing_calls),
        kiosk_app_enable_notifications: Some(s.kiosk_app_enable_notifications),
        disallow_installing_from_unknown_sources: Some(s.disallow_installing_from_unknown_sources),
        terms_and_conditions_url: text(&s.terms_and_conditions_url),
        support_url: text(&s.support_url),
        ..Default::default()
    }
}

/// The wire's provisioning states, both ways.
pub(super) fn to_state(s: ClientProvisionState) -> ProvisionState {
    match s {
        ClientProvisionState::Unspecified => ProvisionState::Unspecified,
        ClientProvisionState::Retry => ProvisionState::Retry,
        ClientProvisionState::DismissibleUi => ProvisionState::DismissibleUi,
        ClientProvisionState::PersistentUi => ProvisionState::PersistentUi,
        ClientProvisionState::FactoryReset => ProvisionState::FactoryReset,
        ClientProvisionState::Success => ProvisionState::Success,
    }
}

fn from_state(s: ProvisionState) -> ClientProvisionState {
    match s {
        ProvisionState::Unspecified => ClientProvisionState::Unspecified,
        ProvisionState::Retry => ClientProvisionState::Retry,
        ProvisionState::DismissibleUi => ClientProvisionState::DismissibleUi,
        ProvisionState::PersistentUi => ClientProvisionState::PersistentUi,
        ProvisionState::FactoryReset => ClientProvisionState::FactoryReset,
        ProvisionState::Success => ClientProvisionState::Success,
    }
}

#[tonic::async_trait]
impl DeviceLockCheckinService for Phones {
    async fn get_device_checkin_status(
        &self,
        request: Request<GetDeviceCheckinStatusRequest>,
    ) -> Result<Response<GetDeviceCheckinStatusResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        let checkin = CheckinRequest {
            ids: identifiers(&req.client_device_identifiers)?,
            mccmnc: mccmnc(req.carrier_mccmnc.as_deref())?,
            fcm_token: req.fcm_registration_token,
        };
        let out = self
            .service
            .android_checkin(scope, checkin)
            .await
            .map_err(status)?;
        let (checkin_status, next_steps) = match (&out.answer, &out.settings) {
            (
                CheckinAnswer::Provision {
                    provision_type: t,
                    force,
                },
                Some(s),
            ) => (
                ClientCheckinStatus::ReadyForProvision,
                Some(NextSteps::DeviceProvisioningInformation(
                    DeviceProvisioningInformation {
                        configuration_information: Some(configuration(s)),
                        enrollment_type: Some(EnrollmentType::Finance as i32),
                        device_provision_type: Some(provision_type(*t) as i32),
                        force_provisioning: Some(*force),
                        is_device_in_approved_country: Some(out.approved_country),
                        allow_debugging: Some(out.allow_debugging),
                    },
                )),
            ),
            (CheckinAnswer::Retry(at), _) => (
                ClientCheckinStatus::RetryCheckin,
                Some(NextSteps::NextCheckinInformation(NextCheckinInformation {
                    next_checkin_timestamp: Some(timestamp(*at)),
                })),
            ),
            (CheckinAnswer::Stop | CheckinAnswer::Provision { .. }, _) => {
                (ClientCheckinStatus::StopCheckin, None)
            }
        };
        Ok(Response::new(GetDeviceCheckinStatusResponse {
            client_checkin_status: Some(checkin_status as i32),
            registered_device_identifier: out.registered,
            next_steps,
        }))
    }

    async fn is_device_in_approved_country(
        &self,
        request: Request<IsDeviceInApprovedCountryRequest>,
    ) -> Result<Response<IsDeviceInApprovedCountryResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        let m = mccmnc(req.carrier_mccmnc.as_deref())?
            .ok_or_else(|| Status::invalid_argument("carrier_mccmnc is missing"))?;
        let approved = self
            .service
            .android_country(scope, req.registered_device_identifier.as_deref(), &m)
            .await
            .map_err(status)?;
        Ok(Response::new(IsDeviceInApprovedCountryResponse {
            is_device_in_approved_country: Some(approved),
        }))
    }

    async fn pause_device_provisioning(
        &self,
        request: Request<PauseDeviceProvisioningRequest>,
    ) -> Result<Response<PauseDeviceProvisioningResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        let reason = req
            .pause_device_provisioning_reason
            .map(PauseDeviceProvisioningReason::try_from);
        if !matches!(
            reason,
            Some(Ok(
                PauseDeviceProvisioningReason::UserDeferredDeviceProvisioning
            ))
        ) {
            return Err(Status::invalid_argument(
                "pause_device_provisioning_reason must be USER_DEFERRED_DEVICE_PROVISIONING",
            ));
        }
        self.service
            .android_pause(scope, req.registered_device_identifier.as_deref())
            .await
            .map_err(status)?;
        Ok(Response::new(PauseDeviceProvisioningResponse {}))
    }

    async fn report_device_provision_state(
        &self,
        request: Request<ReportDeviceProvisionStateRequest>,
    ) -> Result<Response<ReportDeviceProvisionStateResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        let previous =
            ClientProvisionState::try_from(req.previous_client_provision_state.unwrap_or(0))
                .map_err(|_| Status::invalid_argument("unknown previous_client_provision_state"))?;
        let failure = ClientProvisionFailureReason::try_from(
            req.client_provision_failure_reason.unwrap_or(0),
        )
        .map_err(|_| Status::invalid_argument("unknown client_provision_failure_reason"))?;
        let success = req
            .provision_success
            .ok_or_else(|| Status::invalid_argument("provision_success is missing"))?;
        let failure_name = failure
            .as_str_name()
            .trim_start_matches("PROVISION_FAILURE_REASON_")
            .to_lowercase();
        let (next, days) = self
            .service
            .android_report_provision(
                scope,
                req.registered_device_identifier.as_deref(),
                success,
                to_state(previous),
                &failure_name,
            )
            .await
            .map_err(status)?;
        Ok(Response::new(ReportDeviceProvisionStateResponse {
            next_client_provision_state: Some(from_state(next) as i32),
            days_left_until_reset: Some(days),
        }))
    }

    async fn update_fcm_token(
        &self,
        request: Request<UpdateFcmTokenRequest>,
    ) -> Result<Response<UpdateFcmTokenResponse>, Status> {
        let scope = self.scope(&request).await?;
        let req = request.into_inner();
        let ids = identifiers(&req.client_device_identifiers)?;
        let token = req.fcm_registration_token.unwrap_or_default();
        let updated = self
            .service
            .android_fcm_token(scope, &ids, token.trim())
            .await
            .map_err(status)?;
        let result = if updated {
            UpdateFcmTokenResult::Success
        } else {
            UpdateFcmTokenResult::Failure
        };
        Ok(Response::new(UpdateFcmTokenResponse {
            result: Some(result as i32),
        }))
    }
}
