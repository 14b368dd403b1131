//! Journeys through the web UI in headless Chromium (`ferry_webdriver`). Screenshots of the
//! main pages are saved to a folder the run prints.

use ferry_webdriver::{Browser, screenshot_dir};

use super::harness::{App, PASSWORD};

pub async fn journeys(app: App) {
    let site = app.serve().await;
    let shots = screenshot_dir(env!("CARGO_MANIFEST_DIR"));
    let browser = Browser::start().await;

    // A Marketplace Manager signs in, creates a company, finds it, opens it and signs out.
    browser.goto(&format!("{site}/")).await;
    assert!(
        browser.url().await.ends_with("/sign-in"),
        "anonymous visitors land on sign-in"
    );
    browser.shot(&shots, "01-sign-in").await;
    sign_in(&browser, "manager@alpha.example").await;
    assert!(
        browser.url().await.ends_with("/m/alpha"),
        "{}",
        browser.url().await
    );
    browser.shot(&shots, "02-overview").await;
    browser.click("nav a[href='/m/alpha/companies']").await;
    browser.shot(&shots, "03-companies").await;
    browser.click("a[href='/m/alpha/companies/new']").await;
    browser.type_into("#name", "Harbour Lights Ltd").await;
    browser.type_into("#external_id", "HL-001").await;
    browser
        .type_into("#email", "office@harbourlights.example")
        .await;
    browser.type_into("#country", "ie").await;
    browser.shot(&shots, "04-new-company").await;
    browser.click("form.card button[type=submit]").await;
    assert!(browser.text("h1").await.contains("Harbour Lights Ltd"));
    assert!(browser.text(".notice").await.contains("Created"));
    browser.shot(&shots, "05-company").await;

    browser.click("nav a[href='/m/alpha/companies']").await;
    browser.type_into("#q", "harbour").await;
    browser.click("form.filters button").await;
    let rows = browser.source().await;
    browser.shot(&shots, "03b-search").await;
    assert!(
        rows.contains("Harbour Lights Ltd") && !rows.contains(">Acme<"),
        "search narrows the list"
    );
    browser.click("table a").await;
    assert!(browser.text("h1").await.contains("Harbour Lights Ltd"));
    assert!(
        browser.source().await.contains("IE"),
        "the country was stored upper-case"
    );

    browser.click("nav a[href='/m/alpha/users']").await;
    browser.shot(&shots, "06-users").await;
    browser.click("nav a[href='/m/alpha/catalog']").await;
    browser.shot(&shots, "07-catalog").await;
    browser.click("nav a[href='/m/alpha/jobs']").await;
    browser.shot(&shots, "08-jobs").await;
    browser.click("nav a[href='/m/alpha/outbox']").await;
    browser.shot(&shots, "09-outbox").await;
    browser
        .click("nav a[href='/m/alpha/settings/api-tokens']")
        .await;
    browser.shot(&shots, "10-api-tokens").await;

    // A dataset with errors is uploaded, reaches Activated with Errors while the page follows
    // it, and its report lists the rows it refused.
    let worker = app.dataset_worker();
    let files = tempfile::tempdir().expect("temp dir");
    let users = files.path().join("users.csv");
    std::fs::write(
        &users,
        "EXTERNAL_ID,EMAIL_ADDRESS,FIRST_NAME\nb-1,bea@alpha.example,Bea\nb-1,twice@alpha.example,Bea\n",
    )
    .expect("users file");
    let companies = files.path().join("companies.csv");
    std::fs::write(&companies, "EXTERNAL_ID,NAME\nbc-1,Bay Traders\n").expect("companies file");
    browser.click("nav a[href='/m/alpha/datasets']").await;
    browser.type_into("#name", "Browser batch").await;
    browser
        .type_into("#file-users", &users.display().to_string())
        .await;
    browser
        .type_into("#file-companies", &companies.display().to_string())
        .await;
    browser.shot(&shots, "14-upload").await;
    browser.click("form.card button[type=submit]").await;
    assert!(browser.text("h1").await.contains("Browser batch"));
    browser
        .wait_for(
            "document.querySelector('#dataset-state')?.textContent === 'Activated with Errors'",
        )
        .await;
    browser.shot(&shots, "15-dataset").await;
    let report = browser
        .execute("return fetch(document.querySelector('#report-link').href).then(r => r.text())")
        .await;
    let report = report.as_str().unwrap_or_default();
    assert!(
        report.contains("users.csv,3,b-1,ERROR,DUPLICATE_RECORD,EXTERNAL_ID,"),
        "{report}"
    );
    assert!(report.contains("companies.csv,2,bc-1,CREATED,"), "{report}");

    // With review, a validated dataset's file is replaced from its page; it is validated again
    // with the new file, then activated.
    let reviewed = files.path().join("reviewed.csv");
    std::fs::write(
        &reviewed,
        "EXTERNAL_ID,EMAIL_ADDRESS\nr-1,rhea@alpha.example\nr-1,rex@alpha.example\n",
    )
    .expect("reviewed file");
    let fixed = files.path().join("reviewed-fixed.csv");
    std::fs::write(
        &fixed,
        "EXTERNAL_ID,EMAIL_ADDRESS\nr-1,rhea@alpha.example\nr-2,rex@alpha.example\n",
    )
    .expect("fixed file");
    browser.click("nav a[href='/m/alpha/datasets']").await;
    browser.type_into("#name", "Reviewed batch").await;
    browser
        .execute("document.querySelector('input[name=review]').checked = true")
        .await;
    browser
        .type_into("#file-users", &reviewed.display().to_string())
        .await;
    browser.click("form.card button[type=submit]").await;
    // The page loads again when the dataset settles, with the actions of its new state.
    browser.wait_for("!!document.querySelector('#replace-users') && document.body.textContent.includes('reviewed.csv')").await;
    browser
        .type_into("#replace-users", &fixed.display().to_string())
        .await;
    browser.shot(&shots, "17-replace-files").await;
    browser
        .click("form[action*='/files'] button[type=submit]")
        .await;
    browser.wait_for("!!document.querySelector('.actions') && document.body.textContent.includes('reviewed-fixed.csv')").await;
    browser
        .click_and_confirm(
            ".actions button[type=submit]",
            "It will create 2 records, update 0 and skip 0 rows with errors.",
        )
        .await;
    browser
        .wait_for("document.querySelector('#dataset-state')?.textContent === 'Activated'")
        .await;
    assert_eq!(
        app.user(&app.a, "rex@alpha.example")
            .await
            .external_id
            .as_deref(),
        Some("r-2")
    );

    // An order dataset, from the page's second form: its one row would become a company, a
    // user, a membership and an order; refused whole here, for there is no edition NONE.
    let orders = files.path().join("orders.csv");
    std::fs::write(
        &orders,
        "ORDER_EXTERNAL_ID,COMPANY_EXTERNAL_ID,COMPANY_NAME,USER_EXTERNAL_ID,USER_EMAIL_ADDRESS,EDITION_CODE,UNITS\n\
         o-1,oc-1,Harbor Goods,ou-1,olga@harbor.example,NONE,3\n",
    )
    .expect("orders file");
    browser.click("nav a[href='/m/alpha/datasets']").await;
    browser.type_into("#order-name", "Order batch").await;
    browser
        .type_into("#file-orders", &orders.display().to_string())
        .await;
    browser.shot(&shots, "18-order-upload").await;
    browser
        .click("form:has(#file-orders) button[type=submit]")
        .await;
    browser
        .wait_for(
            "document.querySelector('#dataset-state')?.textContent === 'Activated with Errors'",
        )
        .await;
    assert!(
        app.store
            .company_by_external_id(app.a.id, "oc-1")
            .await
            .expect("read")
            .is_none(),
        "a refused order creates no company"
    );

    browser.click("nav a[href='/m/alpha/datasets']").await;
    browser.shot(&shots, "16-datasets").await;
    drop(worker);

    // A form whose CSRF token was removed is refused, and nothing is written.
    let before = app.companies(&app.a).await;
    browser.goto(&format!("{site}/m/alpha/companies/new")).await;
    browser.type_into("#name", "Forged Co").await;
    browser
        .execute("document.querySelector('form.card input[name=csrf]').remove()")
        .await;
    browser.click("form.card button[type=submit]").await;
    assert!(browser.text("h1").await.contains("The form has expired"));
    browser.shot(&shots, "11-csrf-refused").await;
    assert_eq!(
        app.companies(&app.a).await,
        before,
        "the forged form wrote nothing"
    );

    browser.goto(&format!("{site}/m/alpha")).await;
    browser.click(".who button").await;
    assert!(browser.url().await.ends_with("/sign-in"), "signed out");
    browser.goto(&format!("{site}/m/alpha/companies")).await;
    assert!(
        browser.url().await.contains("/sign-in"),
        "pages need a session again"
    );

    // A Sales Support Rep cannot open the Partner Center settings, and is not offered them.
    sign_in(&browser, "sales@alpha.example").await;
    assert!(!browser.source().await.contains("/settings/partner-center"));
    browser
        .goto(&format!("{site}/m/alpha/settings/partner-center"))
        .await;
    assert!(browser.text("h1").await.contains("Not allowed"));
    browser.shot(&shots, "12-not-allowed").await;
    browser.goto(&format!("{site}/m/beta")).await;
    assert!(
        browser.text("h1").await.contains("Page not found"),
        "another marketplace stays hidden"
    );
    browser.shot(&shots, "13-not-found").await;

    // A 420 px window: the navigation folds behind Menu, which opens without script.
    browser.window_width(420).await;
    browser
        .goto(&format!("{}/m/alpha", browser.site_of_current().await))
        .await;
    let folded = "getComputedStyle(document.querySelector('header.top .menu-panel')).display";
    assert_eq!(browser.execute(&format!("return {folded}")).await, "none");
    browser.shot(&shots, "19-narrow").await;
    browser
        .execute("document.querySelector('label.menu-button').click()")
        .await;
    assert_eq!(browser.execute(&format!("return {folded}")).await, "flex");
    browser.shot(&shots, "20-narrow-menu").await;
    browser.window_width(1400).await;
    let lines = "const n = document.querySelector('header.top nav'); \
                 return n.getBoundingClientRect().height < 40";
    assert_eq!(
        browser.execute(lines).await,
        true,
        "at 1,400 px the navigation is one line"
    );
    println!("screenshots of the main pages: {}", shots.display());
}

async fn sign_in(browser: &Browser, email: &str) {
    browser
        .goto(&format!("{}/sign-in", browser.site_of_current().await))
        .await;
    browser.type_into("#email", email).await;
    browser.type_into("#password", PASSWORD).await;
    browser.click("button[type=submit]").await;
}
