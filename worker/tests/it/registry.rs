//! The job registry covers every queue the contract names: a job kind
//! without a worker would pile up in Redis forever.

use frontdesk_jobs::queue;
use frontdesk_worker::registered_queues;

#[test]
fn every_queue_in_the_contract_has_exactly_one_registered_worker() {
    let mut registered = registered_queues();
    registered.sort_unstable();
    let mut expected = queue::ALL.to_vec();
    expected.sort_unstable();
    assert_eq!(registered, expected, "jobs::queue::ALL and the registered workers differ");
}
