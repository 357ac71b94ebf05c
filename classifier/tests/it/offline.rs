use frontdesk_classifier::{Intent, OfflineClassifier, bench, evaluate_holdout};

#[test]
fn benchmark_reports_at_least_ten_thousand_classifications() {
    let b = bench::offline();
    assert!(b.classifications >= 10_000);
    assert!(b.p50_us > 0.0 && b.p50_us <= b.p99_us);
    assert_eq!(b.macro_f1, evaluate_holdout().macro_f1);
}

#[test]
fn typos_spanish_and_emoji_are_understood() {
    let c = OfflineClassifier::new();
    assert_eq!(c.classify("cancle my membrship pls").intent, Intent::Cancellation);
    assert_eq!(c.classify("quiero darme de baja").intent, Intent::Cancellation);
    assert_eq!(c.classify("💰🚀 free crypto airdrop, connect wallet").intent, Intent::Spam);
}
