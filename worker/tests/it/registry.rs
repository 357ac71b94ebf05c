//! The job registry covers every queue the contract names: a job kind
//! without a worker would pile up in Redis forever.

use std::sync::Arc;

use frontdesk_classifier::OfflineClassifier;
use frontdesk_jobs::{Jobs, queue};
use frontdesk_queue::{QueueConfig, RedisQueue};
use frontdesk_store::vault::{MasterKeys, Vault};
use frontdesk_worker::{
    GuardMetrics, WorkerConfig, WorkerDeps,
    handlers::{classify_lead::ClassifyDeps, send_followup::SendDeps},
    providers::{http_client, smtp::SmtpPolicy, twilio::TwilioClient, whatsapp::WhatsappClient},
    registered_queues,
};
use sqlx::PgPool;

use crate::helpers::{app_db, redis_url};

const MIGRATOR: &sqlx::migrate::Migrator = &frontdesk_store::MIGRATOR;

#[sqlx::test(migrator = "MIGRATOR")]
async fn every_queue_in_the_contract_has_exactly_one_registered_worker(owner: PgPool) {
    let db = app_db(&owner).await;
    let namespace = format!("fdtest-{}", uuid::Uuid::new_v4().simple());
    let queue = RedisQueue::connect(&redis_url(), QueueConfig::default().namespace(namespace)).await.unwrap();
    let vault = Vault::new(MasterKeys::generate_encoded(1).parse().unwrap());
    let deps = WorkerDeps {
        db,
        jobs: Jobs::new(queue.clone()),
        queue,
        metrics: Arc::new(GuardMetrics::default()),
        classify: ClassifyDeps {
            offline: Arc::new(OfflineClassifier::new()),
            platform_llm: None,
            default_daily_budget: None,
            vault: vault.clone(),
        },
        send: SendDeps {
            vault,
            twilio: TwilioClient::new(http_client(), "http://127.0.0.1:9"),
            whatsapp: WhatsappClient::new(http_client(), "http://127.0.0.1:9", "v21.0"),
            smtp: SmtpPolicy { allow_private: false },
            public_url: "https://hooks.frontdesk.test".into(),
        },
    };
    let mut registered = registered_queues(&deps, &WorkerConfig::default());
    registered.sort_unstable();
    let mut expected = queue::ALL.to_vec();
    expected.sort_unstable();
    assert_eq!(registered, expected, "jobs::queue::ALL and the registered workers differ");
}
