//! Typed ids. A `LeadId` cannot be passed where a `MessageId` is expected, and
//! a workspace id is never a bare string or uuid.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        #[cfg_attr(feature = "sqlx", derive(sqlx::Type), sqlx(transparent))]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh, time-ordered id (UUIDv7 keeps b-tree inserts local).
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }

            pub const fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }

            pub const fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }
    };
}

id_newtype!(
    /// A studio. Every tenant row, job and credential is bound to one.
    WorkspaceId
);
id_newtype!(UserId);
id_newtype!(LeadId);
id_newtype!(MessageId);
id_newtype!(CallLogId);
id_newtype!(FollowupId);
id_newtype!(IntegrationId);
id_newtype!(CalendarEventId);
id_newtype!(AiRuleId);
id_newtype!(TaskId);
id_newtype!(
    /// A row of `webhook_events`: one received, verified provider delivery.
    WebhookEventId
);
id_newtype!(OutboxId);
id_newtype!(
    /// A studio user's sign-in session (`sessions`).
    SessionId
);
id_newtype!(
    /// A studio API key (`api_keys`).
    ApiKeyId
);
