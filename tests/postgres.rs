//! Says whether the backend matrix ran on PostgreSQL: where
//! `ORM_TEST_POSTGRES` is unset, once, that the PostgreSQL half of the
//! suite was skipped and how to run it; where it is set, that the server
//! answers (failing otherwise, so a CI run cannot pass by skipping).
//! A test target without the test harness, so that what it prints shows.

const POSTGRES_URL: &str = "ORM_TEST_POSTGRES";

fn main() {
    let Some(url) = std::env::var(POSTGRES_URL).ok().filter(|u| !u.is_empty()) else {
        println!(
            "note: the PostgreSQL half of the test suite was skipped; to run it, set \
             {POSTGRES_URL} to a server's URL (postgresql://user@host/database) and test \
             with --all-features (or --features postgres)"
        );
        return;
    };
    check(&url);
}

#[cfg(feature = "postgres")]
fn check(url: &str) {
    match postgres::Client::connect(url, postgres::NoTls) {
        Ok(_) => println!("the backend matrix ran on PostgreSQL at {url}"),
        Err(e) => {
            eprintln!("{POSTGRES_URL}={url}: the PostgreSQL server cannot be reached: {e}");
            std::process::exit(1);
        }
    }
}

#[cfg(not(feature = "postgres"))]
fn check(url: &str) {
    eprintln!(
        "{POSTGRES_URL}={url} is set, but the tests were built without the `postgres` feature: \
         test with --all-features (or --features postgres)"
    );
    std::process::exit(1);
}
