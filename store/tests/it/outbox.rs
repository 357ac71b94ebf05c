//! The outbox keeps what a job needs to be pushed again by the relay.

use std::time::Duration;

use frontdesk_store::{
    followups::{self, MISSED_CALL, NewFollowup},
    leads::{self, NewLead},
    messages::Channel,
    outbox,
    vault::{MasterKeys, Vault},
};
use sqlx::PgPool;

use crate::helpers::{app_db, studio, twilio};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

/// A missed-call text-back's send is urgent on the Twilio number's limit, a
/// sequence step's is not, and a relay re-push keeps both as written.
#[sqlx::test(migrator = "MIGRATOR")]
async fn a_relay_re_push_keeps_the_rate_limit_and_its_urgency(owner: PgPool) {
    let db = app_db(&owner).await;
    let vault = Vault::new(MasterKeys::generate_encoded(1).parse().unwrap());
    let ws = studio(&db, "Iron Temple").await;
    let number = twilio(&db, &vault, ws, "tok").await;
    let mut tx = db.tenant(ws).await.unwrap();
    let new_lead =
        NewLead { phone: Some("+15550001111".parse().unwrap()), source: "test".into(), ..Default::default() };
    let lead = leads::create(&mut tx, &new_lead).await.unwrap();
    let send = |kind| NewFollowup {
        lead_id: lead,
        kind,
        channel: Channel::Sms,
        template: "Hi",
        variants: &[],
        subject: None,
        due_at: chrono::Utc::now(),
    };
    let urgent = followups::create_enqueued(&mut tx, &send(MISSED_CALL)).await.unwrap();
    let ordinary = followups::create_enqueued(&mut tx, &send("sequence")).await.unwrap();
    tx.commit().await.unwrap();

    let limit_of = |pushed: &[(frontdesk_jobs::OutboxId, frontdesk_jobs::Envelope)]| {
        pushed[0].1.rate_limit.clone().expect("a send counts against its sender's limit")
    };
    let key = format!("twilio:{number}");
    let (u, o) = (limit_of(&urgent), limit_of(&ordinary));
    assert_eq!((u.key.as_str(), u.max, u.per, u.urgent), (key.as_str(), 1, Duration::from_secs(1), true));
    assert_eq!((o.key.as_str(), o.urgent), (key.as_str(), false));

    let claimed = outbox::claim(&db, 10, Duration::ZERO, Duration::ZERO).await.unwrap();
    assert_eq!(claimed.len(), 2);
    for c in claimed {
        let expected = if c.id == urgent[0].0 { &u } else { &o };
        assert_eq!(c.envelope.rate_limit.as_ref(), Some(expected), "entry {}", c.id);
    }
}
