//! Prints the cross-validated intent macro-F1 of the parameter grid and of
//! the configuration `build.rs` trains with. Model selection, not a test:
//! `cargo run --release -p frontdesk-classifier --features model-selection --example model_selection`.

fn main() {
    let chosen = frontdesk_classifier::model_selection::chosen();
    println!("{}: macro-F1 {:.4}", chosen.description, chosen.macro_f1);
    for (class, f1) in &chosen.per_class {
        println!("  {class:<20} {f1:.3}");
    }
    if std::env::args().any(|a| a == "--grid") {
        for r in frontdesk_classifier::model_selection::grid() {
            println!("{}: cv macro-F1 {:.3}", r.description, r.macro_f1);
        }
    }
}
