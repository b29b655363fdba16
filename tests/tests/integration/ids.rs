//! Assembly ids are deterministic: same files, template, user, branch and fields → same id.

use test_components as components;
use transflow_tests::{Harness, media};

#[tokio::test]
async fn the_same_inputs_give_the_same_id_in_any_order() {
    // The id is fixed before any step runs, so whether the steps succeed does not matter here.
    let harness = Harness::new().await;
    let fields = [("count", "1")];
    let thumbs = components::VIDEO_THUMBNAILS;
    let a = harness.run(thumbs, &[&media().clip, &media().image], &fields).await.status;
    let b = harness.run(thumbs, &[&media().image, &media().clip], &fields).await.status;
    assert_eq!(a.assembly_id, b.assembly_id);
    let other_user =
        harness.run_as("someone-else", thumbs, &[&media().clip, &media().image], &fields).await.status;
    assert_ne!(a.assembly_id, other_user.assembly_id);
    let other_fields = harness.run(thumbs, &[&media().clip, &media().image], &[("count", "2")]).await.status;
    assert_ne!(a.assembly_id, other_fields.assembly_id);
    let md5s: Vec<String> = a.uploads.iter().map(|u| u.md5hash.clone()).collect();
    let fields = std::collections::BTreeMap::from([("count".to_owned(), "1".to_owned())]);
    assert_eq!(
        a.assembly_id,
        transflow_store::assembly::assembly_id(&md5s, "video-thumbnails", "tester", "test", &fields)
    );
}
