use frontdesk_classifier::{Intent, Language, OfflineClassifier};

#[test]
fn typos_spanish_and_emoji_are_understood() {
    let c = OfflineClassifier::new();
    assert_eq!(c.classify("cancle my membrship pls", Language::En).intent, Intent::Cancellation);
    assert_eq!(c.classify("quiero darme de baja", Language::En).intent, Intent::Cancellation);
    assert_eq!(c.classify("💰🚀 free crypto airdrop, connect wallet", Language::En).intent, Intent::Spam);
}
