//! The OpenAPI 3.1 document of the lender API, the public IMEI check and the device
//! endpoints, served at `GET /openapi.json`. It is generated from the code: the handlers'
//! `#[utoipa::path]` annotations and the `ToSchema` derives of the types they take and return.
//!
//! - The route modules are private to `routes`, so each route file hands over the operations
//!   it documents in an `impl Operations` block; [`document`] merges them.
//! - Some responses come from the extractors and the storage, not from a handler: 401 and
//!   403 from the API key and its role, 400/413/415/422 from a JSON or CSV body, 400 from a query string, 404 from
//!   an id in the path, 500/503 from the store. [`add_common_responses`] adds them to every
//!   operation of that shape (a handler that lists one itself keeps its own description).
//! - Types of the `domain` and `wire` crates, which must not depend on utoipa, are described
//!   here by schema-only twins (`...Schema`, published under the real type's name); the tests
//!   below check each twin against what the real type serializes.
//! - The console's HTML pages and `/check` are not in the document.

use crate::error::{Body as ErrorBody, Inner as ErrorDetail};
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use std::sync::OnceLock;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, HeaderBuilder, OpenApi as Document, Ref, RefOr};
use utoipa::{Modify, OpenApi, ToSchema};

/// Name of the bearer API-key security scheme.
pub const BEARER: &str = "api_key";

/// The document's frame: info, tags, the security scheme and the error schema. The
/// operations come from the route files (see [`document`]).
#[derive(OpenApi)]
#[openapi(
    info(
        title = "lienlock",
        version = env!("CARGO_PKG_VERSION"),
        description = "The lender API of lienlock (device financing with signed, time-limited \
                       leases), the public IMEI check and the device endpoints. See docs/api.md \
                       and docs/protocol.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(openapi_json),
    components(schemas(ErrorBody, ErrorDetail)),
    modifiers(&BearerScheme),
    tags(
        (name = "lender", description = "The caller's lender and its lending policy"),
        (name = "devices", description = "Enrollment, state, timeline and commands"),
        (name = "android", description = "The Android Device Lock Controller channel: settings, \
         check-in key, each phone's configuration and state"),
        (name = "contracts", description = "Installment contracts"),
        (name = "payments", description = "The payments ledger"),
        (name = "disputes", description = "Disputes and notices"),
        (name = "codes", description = "Offline unlock codes"),
        (name = "keys", description = "The lender's API keys"),
        (name = "audit", description = "The lender's audit trail"),
        (name = "webhooks", description = "The webhook endpoint and its deliveries"),
        (name = "public", description = "The public IMEI check; no API key, rate-limited"),
        (name = "device", description = "The device protocol (docs/protocol.md); devices \
                                          sign their requests, no API key"),
        (name = "ops", description = "Health and this document"),
    )
)]
struct Frame;

/// Where the route files hand over their documented operations: each adds a function in an
/// `impl Operations` block next to its handlers.
#[derive(Debug)]
pub struct Operations;

/// The whole document.
pub fn document() -> Document {
    let mut doc = Frame::openapi();
    for part in [
        Operations::health(),
        Operations::devices(),
        Operations::android(),
        Operations::device_import(),
        Operations::contracts(),
        Operations::payments(),
        Operations::disputes(),
        Operations::codes(),
        Operations::api_keys(),
        Operations::audit(),
        Operations::webhooks(),
        Operations::public(),
        Operations::device_api(),
        Operations::push(),
    ] {
        doc.merge(part);
    }
    add_common_responses(&mut doc);
    doc
}

/// `GET /openapi.json`.
pub fn routes() -> crate::routes::Routes {
    crate::routes::Routes::new().add(
        axum::http::Method::GET,
        "/openapi.json",
        crate::routes::Access::Public,
        get(openapi_json),
    )
}

/// This document.
#[utoipa::path(
    get,
    path = "/openapi.json",
    operation_id = "openapi",
    tag = "ops",
    responses((status = 200, description = "The OpenAPI 3.1 document",
               body = Object, content_type = "application/json")),
)]
async fn openapi_json() -> axum::response::Response {
    static JSON: OnceLock<String> = OnceLock::new();
    let json = JSON.get_or_init(|| {
        document()
            .to_json()
            .expect("an OpenAPI document always serializes")
    });
    ([(header::CONTENT_TYPE, "application/json")], json.as_str()).into_response()
}

struct BearerScheme;

impl Modify for BearerScheme {
    fn modify(&self, doc: &mut Document) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("llk_<key id, 32 hex>_<secret, 43 base64url>")
                    .description(Some(
                        "An API key from `lienlock ctl bootstrap`: `Authorization: Bearer llk_...`",
                    ))
                    .build(),
            ),
        );
    }
}

/// The shared error responses, by name in `components.responses`.
const COMMON: &[(&str, &str)] = &[
    (
        "BadRequest",
        "`malformed_json` (the body is not JSON), `malformed_csv`, `invalid_query` (a query \
         parameter is unknown or invalid) or, on the device API, `malformed_message`",
    ),
    (
        "Unauthorized",
        "`unauthorized`: missing, malformed, unknown or revoked API key",
    ),
    (
        "Forbidden",
        "`forbidden`: the key's role does not have the permission this operation needs",
    ),
    (
        "NotFound",
        "`not_found`: no such resource, an id that is not a UUID, or another lender's",
    ),
    (
        "PayloadTooLarge",
        "`payload_too_large`: the body is over 64 KiB (2 MiB for a CSV upload)",
    ),
    (
        "UnsupportedMediaType",
        "`unsupported_media_type`: the body is not of the content type the operation takes",
    ),
    (
        "UnprocessableEntity",
        "`invalid_request`: JSON of the wrong shape (a missing, unknown or mistyped field) or \
         a field with an invalid value",
    ),
    (
        "InternalError",
        "`internal`: a storage error or a corrupt record; the details are only in the log",
    ),
    (
        "ServiceUnavailable",
        "`storage_unavailable` (nothing was written) or `contended` (the record kept \
         changing); retry after `Retry-After` seconds",
    ),
];

fn error_response(name: &str, description: &str) -> Response {
    let mut r = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    let header = |description: &str| {
        HeaderBuilder::new()
            .schema(<String as utoipa::PartialSchema>::schema())
            .description(Some(description))
            .build()
    };
    match name {
        "Unauthorized" => {
            r = r.header("WWW-Authenticate", header("`Bearer`"));
        }
        "ServiceUnavailable" => {
            r = r.header("Retry-After", header("seconds; always 1"));
        }
        _ => {}
    }
    r.build()
}

/// Adds to every operation the error responses its shape implies, unless it lists that
/// status itself:
///
/// | shape | responses |
/// |---|---|
/// | needs the API key | 401, 403 (every lender route needs a permission of the key's role) |
/// | takes a JSON or CSV body | 400, 413, 415, 422 |
/// | takes query parameters | 400 |
/// | takes an id in the path | 404 |
/// | reads or writes storage (all but `/healthz`, `/readyz`, `/openapi.json`, `/device/v1/server-key`) | 500, 503 |
pub fn add_common_responses(doc: &mut Document) {
    let components = doc.components.get_or_insert_with(Default::default);
    for (name, description) in COMMON {
        components.responses.insert(
            (*name).to_owned(),
            RefOr::T(error_response(name, description)),
        );
    }
    for (path, item) in doc.paths.paths.iter_mut() {
        let stateless = matches!(
            path.as_str(),
            "/healthz" | "/readyz" | "/openapi.json" | "/device/v1/server-key"
        );
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ]
        .into_iter()
        .flatten()
        {
            add_to_operation(op, stateless);
        }
    }
}

fn add_to_operation(op: &mut Operation, stateless: bool) {
    let mut wanted: Vec<(&str, &str)> = Vec::new();
    if op.security.as_ref().is_some_and(|s| !s.is_empty()) {
        wanted.extend([("401", "Unauthorized"), ("403", "Forbidden")]);
    }
    if op.request_body.is_some() {
        wanted.extend([
            ("400", "BadRequest"),
            ("413", "PayloadTooLarge"),
            ("415", "UnsupportedMediaType"),
            ("422", "UnprocessableEntity"),
        ]);
    }
    let params = op.parameters.as_deref().unwrap_or_default();
    if params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Query))
    {
        wanted.push(("400", "BadRequest"));
    }
    if params
        .iter()
        .any(|p| matches!(p.parameter_in, ParameterIn::Path))
    {
        wanted.push(("404", "NotFound"));
    }
    if !stateless {
        wanted.extend([("500", "InternalError"), ("503", "ServiceUnavailable")]);
    }
    for (status, name) in wanted {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
    }
}

// ---------------------------------------------------------------------------------------
// Schema-only twins of `domain` and `wire` types. Never built: they only describe.

/// No control character (C0, DEL, C1) anywhere, and something other than white space.
const TEXT_PATTERN: &str =
    "^[^\\x00-\\x1F\\x7F-\\x9F]*[^\\s\\x00-\\x1F\\x7F-\\x9F][^\\x00-\\x1F\\x7F-\\x9F]*$";

/// Twins of `BoundedText<N>`: text people type, 1 to N characters after trimming, without
/// control characters.
macro_rules! bounded_text {
    ($($twin:ident = $max:literal),+ $(,)?) => {$(
        #[doc = concat!("`BoundedText<", stringify!($max), ">`.")]
        #[derive(Debug)]
        pub struct $twin;

        impl utoipa::PartialSchema for $twin {
            fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!(
                        "1 to ", stringify!($max),
                        " characters after trimming white space; no control characters"
                    )))
                    .min_length(Some(1))
                    .max_length(Some($max))
                    .pattern(Some(TEXT_PATTERN))
                    .into()
            }
        }

        impl ToSchema for $twin {
            fn name() -> std::borrow::Cow<'static, str> {
                std::borrow::Cow::Borrowed(stringify!($twin))
            }
        }
    )+};
}

bounded_text!(Text100 = 100, Text128 = 128, Text200 = 200, Text500 = 500);

/// How hard a device is restricted, from nothing to a full lock (graduated).
#[derive(Debug, ToSchema)]
#[schema(as = RestrictionLevel, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum RestrictionLevelSchema {
    None,
    Reminder,
    PersistentBanner,
    RestrictedApps,
    FullLock,
}

/// A capability a profile may restrict. Emergency and incoming calls, public-safety
/// alerts, the network and the lender's app are never restricted, so they cannot be named.
#[derive(Debug, ToSchema)]
#[schema(as = Capability, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum CapabilitySchema {
    OutgoingCalls,
    Messaging,
    OtherApps,
    AppInstalls,
    Settings,
    Camera,
}

/// A restriction level and what it restricts.
#[derive(Debug, ToSchema)]
#[schema(as = RestrictionProfile)]
#[allow(dead_code)]
pub struct RestrictionProfileSchema {
    level: RestrictionLevelSchema,
    restricts: Vec<CapabilitySchema>,
}

/// The offline policy: how long a phone may go without a check-in before its lease runs
/// out, and the warning before that.
#[derive(Debug, ToSchema)]
#[schema(as = OfflinePolicy)]
#[allow(dead_code)]
pub struct OfflinePolicySchema {
    /// 3 to 200.
    #[schema(minimum = 3, maximum = 200)]
    lock_after_days: u16,
    /// Less than `lock_after_days`; 0 for no warning.
    #[schema(maximum = 199)]
    warn_days_before: u16,
}

/// What to do about one kind of tamper signal: `notify` (a timeline entry) or `restrict`
/// (also restrict the device, within the compliance profile).
#[derive(Debug, ToSchema)]
#[schema(as = TamperAction, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum TamperActionSchema {
    Notify,
    Restrict,
}

/// The action per kind of tamper signal; absent kinds are `notify`.
#[derive(Debug, ToSchema)]
#[schema(as = TamperPolicy)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct TamperPolicySchema {
    #[schema(required = false)]
    sim_changed: TamperActionSchema,
    #[schema(required = false)]
    clock_set_back: TamperActionSchema,
    #[schema(required = false)]
    debug_or_root: TamperActionSchema,
    #[schema(required = false)]
    wrong_codes: TamperActionSchema,
    #[schema(required = false)]
    factory_reset: TamperActionSchema,
}

/// A day before a due date, 0 (the due date) to 30.
#[derive(Debug)]
pub struct ReminderDaySchema;

impl utoipa::PartialSchema for ReminderDaySchema {
    fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .description(Some("A day before a due date, 0 (the due date) to 30"))
            .minimum(Some(0))
            .maximum(Some(30))
            .into()
    }
}

impl ToSchema for ReminderDaySchema {
    fn name() -> std::borrow::Cow<'static, str> {
        std::borrow::Cow::Borrowed("ReminderDay")
    }
}

/// A lender's policy settings. Days are days overdue (1 on the day after a due date).
#[derive(Debug, ToSchema)]
#[schema(as = PolicySettings)]
#[allow(dead_code)]
pub struct PolicySettingsSchema {
    /// Days before a due date on which a reminder goes out (0 is the due date).
    #[schema(value_type = Vec<ReminderDaySchema>, max_items = 31)]
    reminder_days_before: Vec<u8>,
    #[schema(maximum = 3650)]
    overdue_reminder_every_days: u16,
    #[schema(maximum = 3650)]
    grace_days: u16,
    /// After `grace_days`.
    #[schema(maximum = 3650)]
    banner_after_days: u16,
    /// Not before `banner_after_days`.
    #[schema(maximum = 3650)]
    restricted_apps_after_days: u16,
    /// Not before `restricted_apps_after_days`.
    #[schema(maximum = 3650)]
    full_lock_after_days: u16,
    #[schema(minimum = 1, maximum = 3650)]
    lock_notice_after_days: u16,
    #[schema(maximum = 8760)]
    notice_min_hours_before_lock: u32,
    /// 0 for no second notice.
    #[schema(maximum = 8760)]
    second_notice_after_hours: u32,
    #[schema(maximum = 8760)]
    second_notice_min_hours_before_lock: u32,
    #[schema(maximum = 8760)]
    min_hours_per_level: u32,
    /// Device-local `HH:MM-HH:MM`, may wrap midnight; equal times for none.
    #[schema(
        example = "20:00-08:00",
        pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$"
    )]
    quiet_hours: String,
    /// Absent in a request: the default (7 days, warning 2 days before).
    #[schema(required = false)]
    offline: OfflinePolicySchema,
    /// Absent in a request: `notify` for every kind.
    #[schema(required = false)]
    tamper: TamperPolicySchema,
}

/// Per-contract changes to the lender's policy settings; absent or null keeps the
/// lender's value.
#[derive(Debug, ToSchema)]
#[schema(as = PolicyOverrides)]
#[allow(dead_code)]
pub struct PolicyOverridesSchema {
    reminder_days_before: Option<Vec<ReminderDaySchema>>,
    overdue_reminder_every_days: Option<u16>,
    grace_days: Option<u16>,
    banner_after_days: Option<u16>,
    restricted_apps_after_days: Option<u16>,
    full_lock_after_days: Option<u16>,
    lock_notice_after_days: Option<u16>,
    notice_min_hours_before_lock: Option<u32>,
    second_notice_after_hours: Option<u32>,
    second_notice_min_hours_before_lock: Option<u32>,
    min_hours_per_level: Option<u32>,
    /// `HH:MM-HH:MM`.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]-([01][0-9]|2[0-3]):[0-5][0-9]$")]
    quiet_hours: Option<String>,
}

/// When installments fall due; dates are calendar dates in the lender's time zone.
#[derive(Debug, ToSchema)]
#[schema(as = ScheduleSpec, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum ScheduleSpecSchema {
    /// Every 7 days from `first_due`.
    Weekly {
        first_due: jiff::civil::Date,
        #[schema(minimum = 1, maximum = 520)]
        count: u32,
    },
    /// Every 14 days from `first_due`.
    Biweekly {
        first_due: jiff::civil::Date,
        #[schema(minimum = 1, maximum = 520)]
        count: u32,
    },
    /// `first_due`, then `day_of_month` of each following month (or its last day).
    Monthly {
        first_due: jiff::civil::Date,
        #[schema(minimum = 1, maximum = 31)]
        day_of_month: u8,
        #[schema(minimum = 1, maximum = 520)]
        count: u32,
    },
    /// `[date, amount]` pairs, in date order, adding up to the amount owed.
    Explicit(Vec<(jiff::civil::Date, i64)>),
}

/// Contract terms. Amounts are minor units of `currency`.
#[derive(Debug, ToSchema)]
#[schema(as = TermsSpec)]
#[allow(dead_code)]
pub struct TermsSpecSchema {
    /// ISO 4217 code.
    #[schema(example = "KES", pattern = "^[A-Z]{3}$")]
    currency: String,
    /// Positive.
    #[schema(minimum = 1)]
    financed: i64,
    /// Recorded only; zero or more.
    #[schema(required = false, minimum = 0)]
    down_payment: i64,
    /// Added to what is owed; zero or more.
    #[schema(required = false, minimum = 0)]
    fees: i64,
    schedule: ScheduleSpecSchema,
    /// IANA name, e.g. `Africa/Nairobi`.
    time_zone: String,
}

/// `POST /device/v1/checkin`: a check-in (`LLCHK004`, or `LLCHK003` and `LLCHK002` from older agents) and its signature by the device key.
#[derive(Debug, ToSchema)]
#[schema(as = SignedCheckIn)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SignedCheckInSchema {
    /// Base64 of the check-in's bytes (docs/protocol.md, section 2).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    body: String,
    /// Base64 of the 64-byte Ed25519 signature of those bytes by the device key; for an
    /// `LLCHK005` body, of the 32-byte HMAC-SHA256 tag under the device's check-in MAC key
    /// (docs/protocol.md, section 2a).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    signature: String,
    /// Asks for the device's check-in MAC key (`mac_key`) in the answer. False when
    /// absent.
    #[schema(required = false)]
    want_mac_key: bool,
}

/// `POST /device/v1/dispute`: a dispute (`LLDSP001`) and its signature by the device key.
#[derive(Debug, ToSchema)]
#[schema(as = SignedDispute)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SignedDisputeSchema {
    /// Base64 of the dispute's bytes (docs/protocol.md, section 3a).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    body: String,
    /// Base64 of the 64-byte Ed25519 signature of those bytes by the device key.
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    signature: String,
}

/// `POST /device/v1/push`: a subscription (`LLSUB001`) and its signature by the device key.
#[derive(Debug, ToSchema)]
#[schema(as = SignedSubscribe)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)]
pub struct SignedSubscribeSchema {
    /// Base64 of the subscription's bytes (docs/protocol.md, section 7a).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    body: String,
    /// Base64 of the 64-byte Ed25519 signature of those bytes by the device key.
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    signature: String,
}

/// What a lease tells the device to do.
#[derive(Debug, ToSchema)]
#[schema(as = LeaseState, rename_all = "snake_case")]
#[allow(dead_code)]
pub enum LeaseStateSchema {
    Active,
    Locked,
    Released,
}

/// What the lock screen shows.
#[derive(Debug, ToSchema)]
#[schema(as = LockScreen)]
#[allow(dead_code)]
pub struct LockScreenSchema {
    lender_name: String,
    support_phone: String,
    support_url: String,
    message: String,
    /// What is overdue, for people (`KES 1,500.00`); empty when nothing is.
    amount_due: String,
}

/// A message the device must show its user.
#[derive(Debug, ToSchema)]
#[schema(as = LeaseNotice)]
#[allow(dead_code)]
pub struct LeaseNoticeSchema {
    seq: u64,
    kind: String,
    message: String,
}

/// A readable copy of the lease; not signed, agents ignore it. Times are epoch ms.
#[derive(Debug, ToSchema)]
#[schema(as = LeaseView)]
#[allow(dead_code)]
pub struct LeaseViewSchema {
    #[schema(format = "uuid")]
    device_id: String,
    imei: String,
    sequence: u64,
    state: LeaseStateSchema,
    issued_at: i64,
    valid_until: i64,
    next_checkin_at: i64,
    restriction_level: RestrictionLevelSchema,
    restricts: Vec<CapabilitySchema>,
    lock_screen: LockScreenSchema,
    notices: Vec<LeaseNoticeSchema>,
}

/// The answer to a check-in: the signed lease (`LLLSE003`, or `LLLSE004` announcing a key).
#[derive(Debug, ToSchema)]
#[schema(as = LeaseEnvelope)]
#[allow(dead_code)]
pub struct LeaseEnvelopeSchema {
    /// Hex id of the signing key.
    key_id: String,
    /// Base64 of the lease bytes (docs/protocol.md).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    lease: String,
    /// Base64 of the 64-byte Ed25519 signature by the server key: of the lease bytes, or,
    /// with a `proof`, of the root of the batch the lease was signed in (docs/protocol.md,
    /// section 3b).
    #[schema(
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    signature: String,
    /// Base64 of the lease's path to the signed root: 33 bytes a step, at most 16 steps
    /// (empty for a batch of one). Only in answers to `LLCHK004` and `LLCHK005` check-ins.
    #[schema(
        required = false,
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    proof: String,
    /// Only in answers to `LLCHK002` and `LLCHK003` check-ins.
    #[schema(required = false)]
    view: LeaseViewSchema,
    /// Base64 of 40 bytes: the id of a server key, then the device's check-in MAC key
    /// under it, wrapped for the device (docs/protocol.md, section 2a). Only when a signed
    /// check-in asked for it.
    #[schema(
        required = false,
        content_encoding = "base64",
        content_media_type = "application/octet-stream"
    )]
    mac_key: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use lienlock_domain::{
        Capability, ComplianceProfile, Currency, PolicyOverrides, QuietHours, ReminderDays,
        RestrictionLevel, RestrictionProfile, ScheduleSpec, TermsSpec,
    };
    use serde_json::{json, Value};

    fn doc() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    /// Follows a local `$ref`.
    fn resolve<'a>(doc: &'a Value, r: &str) -> &'a Value {
        let ptr = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("non-local $ref {r}"));
        doc.pointer(ptr)
            .unwrap_or_else(|| panic!("$ref {r} names nothing"))
    }

    /// A small JSON Schema check: the keywords utoipa emits for these types.
    fn check(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
        if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
            return check(doc, resolve(doc, r), v, at);
        }
        if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
            for s in all {
                check(doc, s, v, at)?;
            }
        }
        for (kw, want_one) in [("oneOf", true), ("anyOf", false)] {
            if let Some(list) = schema.get(kw).and_then(Value::as_array) {
                let ok = list.iter().filter(|s| check(doc, s, v, at).is_ok()).count();
                if ok == 0 || (want_one && ok > 1) {
                    return Err(format!("{at}: {ok} of {kw} match {v}"));
                }
            }
        }
        if let Some(values) = schema.get("enum").and_then(Value::as_array) {
            if !values.contains(v) {
                return Err(format!("{at}: {v} not in {values:?}"));
            }
        }
        if let Some(t) = schema.get("type") {
            let types: Vec<&str> = match t {
                Value::String(s) => vec![s.as_str()],
                Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
                _ => vec![],
            };
            let fits = |t: &str| match t {
                "null" => v.is_null(),
                "boolean" => v.is_boolean(),
                "integer" => v.is_i64() || v.is_u64(),
                "number" => v.is_number(),
                "string" => v.is_string(),
                "array" => v.is_array(),
                "object" => v.is_object(),
                _ => false,
            };
            if !types.iter().any(|t| fits(t)) {
                return Err(format!("{at}: {v} is not {types:?}"));
            }
        }
        if let Some(o) = v.as_object() {
            let props = schema.get("properties").and_then(Value::as_object);
            for r in schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let r = r.as_str().unwrap();
                if !o.contains_key(r) {
                    return Err(format!("{at}: required {r} missing in {v}"));
                }
            }
            for (k, x) in o {
                match props.and_then(|p| p.get(k)) {
                    Some(s) => check(doc, s, x, &format!("{at}.{k}"))?,
                    None if schema.get("additionalProperties") == Some(&json!(false))
                        || props.is_some() =>
                    {
                        return Err(format!("{at}: {k} is not in the schema"));
                    }
                    None => {}
                }
            }
        }
        if let Some(a) = v.as_array() {
            let prefix = schema.get("prefixItems").and_then(Value::as_array);
            for (i, x) in a.iter().enumerate() {
                let item = prefix
                    .and_then(|p| p.get(i))
                    .or_else(|| schema.get("items").filter(|i| i.is_object()));
                if let Some(s) = item {
                    check(doc, s, x, &format!("{at}[{i}]"))?;
                }
            }
        }
        Ok(())
    }

    /// Checks the JSON of a real value against the schema published as `name`.
    fn conforms(doc: &Value, name: &str, v: impl serde::Serialize) {
        let v = serde_json::to_value(v).unwrap();
        let schema = resolve(doc, &format!("#/components/schemas/{name}"));
        if let Err(e) = check(doc, schema, &v, name) {
            panic!("{e}\nschema: {schema:#}");
        }
    }

    fn all_refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(o) => {
                for (k, x) in o {
                    match (k.as_str(), x) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => all_refs(x, out),
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| all_refs(x, out)),
            _ => {}
        }
    }

    #[test]
    fn every_reference_resolves_and_operation_ids_are_unique() {
        let doc = doc();
        assert_eq!(doc["openapi"], "3.1.0");
        let mut refs = Vec::new();
        all_refs(&doc, &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            resolve(&doc, r);
        }
        let mut ids: Vec<&str> = doc["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|item| item.as_object().unwrap().values())
            .filter_map(|op| op["operationId"].as_str())
            .collect();
        let n = ids.len();
        ids.sort_unstable();
        ids.dedup();
        assert_eq!(ids.len(), n, "duplicate operationId");
    }

    #[test]
    fn lender_routes_need_the_api_key_and_others_do_not() {
        let doc = doc();
        assert!(doc["components"]["securitySchemes"][BEARER].is_object());
        for (path, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let secured = op["security"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|r| r.get(BEARER).is_some()));
                let lender = path.starts_with("/v1/") && !path.starts_with("/v1/public/");
                assert_eq!(secured, lender, "{method} {path}");
                if lender {
                    assert!(op["responses"]["401"].is_object(), "{method} {path}: 401");
                }
            }
        }
    }

    #[test]
    fn error_responses_use_the_error_body() {
        let doc = doc();
        conforms(
            &doc,
            "ErrorBody",
            json!({"error": {"code": "not_found", "message": "no such resource"}}),
        );
        let op = &doc["paths"]["/v1/devices/{id}/lock"]["post"]["responses"];
        for status in [
            "400", "401", "403", "404", "409", "413", "415", "422", "500", "503",
        ] {
            assert!(op[status].is_object(), "{status}");
        }
    }

    #[test]
    fn twins_describe_what_the_real_types_serialize() {
        let doc = doc();
        let levels: Vec<RestrictionLevel> = (0..=u8::MAX)
            .map_while(RestrictionLevel::from_code)
            .collect();
        let names = |v: Vec<Value>| json!(v);
        assert_eq!(
            resolve(&doc, "#/components/schemas/RestrictionLevel")["enum"],
            names(levels.iter().map(|l| json!(l)).collect())
        );
        assert_eq!(
            resolve(&doc, "#/components/schemas/Capability")["enum"],
            names(
                Capability::ALL
                    .iter()
                    .filter(|c| !c.is_protected())
                    .map(|c| json!(c))
                    .collect()
            )
        );
        for l in levels {
            conforms(&doc, "RestrictionProfile", RestrictionProfile::preset(l));
        }
        for p in ComplianceProfile::all() {
            conforms(&doc, "PolicySettings", p.defaults);
        }
        let mut settings = ComplianceProfile::all()[0].defaults;
        settings.tamper.sim_changed = lienlock_domain::policy::TamperAction::Restrict;
        conforms(&doc, "PolicySettings", settings);
        conforms(&doc, "PolicyOverrides", PolicyOverrides::default());
        conforms(
            &doc,
            "PolicyOverrides",
            PolicyOverrides {
                reminder_days_before: Some(ReminderDays::new(&[0, 3]).unwrap()),
                grace_days: Some(3),
                notice_min_hours_before_lock: Some(48),
                quiet_hours: Some(QuietHours::parse("21:00-07:00").unwrap()),
                ..Default::default()
            },
        );
        let date = jiff::civil::date(2026, 3, 1);
        for schedule in [
            ScheduleSpec::Weekly {
                first_due: date,
                count: 4,
            },
            ScheduleSpec::Biweekly {
                first_due: date,
                count: 4,
            },
            ScheduleSpec::Monthly {
                first_due: date,
                day_of_month: 31,
                count: 12,
            },
            ScheduleSpec::Explicit(vec![(date, 500), (jiff::civil::date(2026, 4, 1), 700)]),
        ] {
            conforms(
                &doc,
                "TermsSpec",
                TermsSpec {
                    currency: Currency::parse("KES").unwrap(),
                    financed: 1200,
                    down_payment: 0,
                    fees: 0,
                    schedule,
                    time_zone: "Africa/Nairobi".into(),
                },
            );
        }
        let signed = json!({"body": "TExDSEswMDI=", "signature": "AAAA"});
        for name in ["SignedCheckIn", "SignedDispute", "SignedSubscribe"] {
            conforms(&doc, name, &signed);
        }
        let _: lienlock_wire::SignedCheckIn = serde_json::from_value(signed.clone()).unwrap();
        let _: lienlock_wire::SignedDispute = serde_json::from_value(signed.clone()).unwrap();
        let _: lienlock_wire::SignedSubscribe = serde_json::from_value(signed).unwrap();
        let view = lienlock_wire::envelope::LeaseView {
            device_id: "019b7a52-1f3e-7a41-8b0c-6c2d9e4f5a01".into(),
            imei: "356938035643809".into(),
            sequence: 3,
            state: lienlock_domain::LeaseState::Locked,
            issued_at: 1_767_225_600_000,
            valid_until: 1_767_830_400_000,
            next_checkin_at: 1_767_226_500_000,
            restriction_level: RestrictionLevel::FullLock,
            restricts: RestrictionProfile::full_lock().restricts(),
            lock_screen: lienlock_wire::LockScreen {
                lender_name: "Acme".into(),
                support_phone: "+254 700 000000".into(),
                support_url: "https://acme.example/pay".into(),
                message: "Pay to unlock".into(),
                amount_due: "KES 1,500.00".into(),
            },
            notices: vec![lienlock_wire::LeaseNotice {
                seq: 1,
                kind: "lock_notice".into(),
                message: "Pay by Friday".into(),
            }],
        };
        for (view, proof, mac_key) in [
            (Some(view), Some("AAAA".into()), None),
            (None, None, Some("AAAA".into())),
        ] {
            conforms(
                &doc,
                "LeaseEnvelope",
                lienlock_wire::LeaseEnvelope {
                    key_id: "0123456789abcdef".into(),
                    lease: "TExMU0UwMDM=".into(),
                    signature: "AAAA".into(),
                    proof,
                    view,
                    mac_key,
                },
            );
        }
    }
}
