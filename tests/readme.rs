//! Every ```sql example in README.md's SQL dialect section is a complete, runnable query: each
//! runs over the generator at 1 and 3 shards with disorder and gives the same rows both times.

mod common;
use common::*;

fn examples() -> Vec<String> {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let section = readme
        .split("## SQL dialect")
        .nth(1)
        .expect("README has a SQL dialect section");
    let section = section.split("\n## ").next().unwrap();
    section
        .split("```sql\n")
        .skip(1)
        .map(|block| block.split("```").next().unwrap().to_string())
        .collect()
}

#[test]
fn readme_sql_examples_run_and_agree_across_shard_counts() {
    let dir = scratch("readme");
    let examples = examples();
    assert!(examples.len() >= 9, "found {} examples", examples.len());
    for (i, sql) in examples.iter().enumerate() {
        let q = dir.join(format!("ex{i}.sql"));
        std::fs::write(&q, sql).unwrap();
        let q = q.to_str().unwrap();
        let generator = [
            "--records",
            "30000",
            "--disorder-ms",
            "300",
            "--partitions",
            "2",
        ];
        let (one, s1) = run_query(
            &dir,
            &format!("ex{i}-1"),
            q,
            &[&["--cores", "1"], &generator[..]].concat(),
        );
        let (three, s3) = run_query(
            &dir,
            &format!("ex{i}-3"),
            q,
            &[&["--cores", "3"], &generator[..]].concat(),
        );
        assert_conserved(&s1, sql);
        assert!(!one.rows.is_empty(), "example {i} gave no rows:\n{sql}");
        assert_eq!(s1["late_dropped"], s3["late_dropped"], "{sql}");
        let cmp = if sql.contains("EMIT CHANGES") {
            same_changelog(&one, &three, &[1, 2, 3])
        } else {
            same_multiset(&one, &three)
        };
        if let Err(e) = cmp {
            panic!("example {i} differs between 1 and 3 shards: {e}\n{sql}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
