//! `cargo run --release -p frontdesk-queue --example bench -- [redis_url] [n] [c,c,...] [scenario,...]`
//! (the CLI's `frontdesk bench queue` calls the same entry point).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let url = args.next().unwrap_or_else(|| "redis://127.0.0.1:6379".into());
    let n = args.next().map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    let levels: Vec<usize> = args
        .next()
        .map(|s| s.split(',').map(str::parse).collect::<Result<_, _>>())
        .transpose()?
        .unwrap_or_else(|| vec![16, 64]);
    let only: Vec<frontdesk_queue::bench::Scenario> = match args.next() {
        Some(s) => s.split(',').map(str::parse).collect::<Result<_, _>>().map_err(anyhow::Error::msg)?,
        None => Vec::new(),
    };
    frontdesk_queue::bench::run(&url, n, &levels, &only).await?;
    Ok(())
}
