//! The whole HTTP surface, registered once: every route goes through a
//! utoipa-axum `OpenApiRouter` (`routes!`), so the router and the document
//! served at `/openapi.json` come from the same list and cannot drift.
//! (`clippy.toml` forbids registering a route any other way.)

use axum::{Router, extract::DefaultBodyLimit, middleware::from_fn_with_state};
use utoipa::{
    Modify, OpenApi,
    openapi::security::{Http, HttpAuthScheme, SecurityScheme},
};
use utoipa_axum::router::OpenApiRouter;

use crate::{AppState, auth, extract, idempotency, routes, webhooks};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "frontdesk",
        description = "The studio API (`/v1`: sign-in, API keys, users, onboarding, integrations) and the provider webhooks. \
                       Studio routes take `Authorization: Bearer <session token or API key>`; the workspace is always the \
                       credential's. Errors are RFC 9457 `application/problem+json` with a stable `code`. POST and PATCH \
                       honour `Idempotency-Key`."
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "sign-in, invitations, sessions"),
        (name = "keys", description = "API keys for scripts (owner or admin)"),
        (name = "users", description = "the studio's people"),
        (name = "workspace", description = "the studio's profile"),
        (name = "onboarding", description = "the set-up wizard"),
        (name = "integrations", description = "provider credentials and webhook routing (owner or admin)"),
        (name = "webhooks", description = "called by providers, verified by signature"),
        (name = "email", description = "unsubscribe links"),
        (name = "operations", description = "health checks"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        let mut http = Http::new(HttpAuthScheme::Bearer);
        http.description =
            Some("a session token (`fd_sess_…`, from POST /v1/auth/login) or an API key (`fd_live_…`)".into());
        components.add_security_scheme("bearer", SecurityScheme::Http(http));
    }
}

/// Every route and the document describing them.
pub fn build(state: &AppState) -> (Router<AppState>, utoipa::openapi::OpenApi) {
    // Layers added later run first: authenticate, then idempotency, then the handler.
    let authenticated = OpenApiRouter::new()
        .merge(routes::auth::router())
        .merge(routes::keys::router())
        .merge(routes::users::router())
        .merge(routes::workspace::router())
        .merge(routes::onboarding::router())
        .merge(routes::integrations::router())
        .route_layer(from_fn_with_state(state.clone(), idempotency::layer))
        .route_layer(from_fn_with_state(state.clone(), auth::authenticate));
    let studio = authenticated.merge(routes::auth::public_router()).layer(DefaultBodyLimit::max(extract::LIMIT));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(routes::health::router())
        .merge(routes::unsubscribe::router())
        .merge(webhooks::router(state))
        .merge(studio)
        .split_for_parts()
}
