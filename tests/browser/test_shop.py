"""A ready Medusa store is a shop: a tenant signs up and creates it from the pages, the real worker provisions it on
the local cluster, the tenant follows its link, and a shopper buys two products (catalog, cart, a three-step
checkout with address, shipping option and the manual payment, the confirmation with the order number); the order
is then in Medusa's admin API with those items, and the store's admin URL opens the Medusa dashboard. Everything
goes through the local ingress controller, as a person's browser would."""

import json
import re

import pytest
from playwright.sync_api import expect

from stores.models import Store, StoreStatus
from tests.browser.shop import open_from_store_page, through_ingress
from tests.shops import MEDUSA_PRODUCTS

pytestmark = [pytest.mark.browser, pytest.mark.k8s, pytest.mark.django_db(transaction=True)]
# A Medusa store takes one to two minutes on the local cluster (README, measured); a busy CI machine more.
PROVISION_TIMEOUT_MS = 10 * 60_000
PRODUCTS = MEDUSA_PRODUCTS


def sign_up_and_create(tab, *, email: str, engine: str, name: str) -> Store:
    page = tab.page
    tab.go("/signup")
    tab.see("signup")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Username").fill(email.split("@")[0])
    page.get_by_label("Password").fill("a-long-password")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("No stores yet.")).to_be_visible()
    tab.see("dashboard-empty")
    page.get_by_role("link", name="Create your first store").click()
    tab.see("create")
    page.get_by_label("Engine").select_option(engine)
    page.get_by_label("Store name").fill(name)
    page.get_by_role("button", name="Create store").click()
    status = page.locator("#store-status")
    expect(status).to_have_text(re.compile(r"^\s*(ready|failed)\s*$"), timeout=PROVISION_TIMEOUT_MS)
    store = Store.objects.get(name=name)
    assert store.status == StoreStatus.READY, f"{store.status}: {store.failure_reason}"
    tab.see("store-ready")
    return store


def medusa_admin_token(store: Store) -> str:
    creds = store.admin_credentials
    status, _, text = through_ingress(
        store.storefront_url,
        "/admin/auth/token",
        method="POST",
        body={"email": creds["email"], "password": creds["password"]},
    )
    assert status == 200, text
    return json.loads(text)["access_token"]


def test_a_shopper_buys_two_products_from_a_new_medusa_store(tab, worker_on_cluster):
    store = sign_up_and_create(tab, email="grace@example.com", engine="medusa", name="sunny-goods")
    assert store.storefront_url == f"http://{store.id}.localhost:8080"
    assert store.admin_url == store.storefront_url + "/admin"

    shop = open_from_store_page(tab.page, store.storefront_url, "medusa-shop")
    page = shop.page
    assert page.url.rstrip("/") == store.storefront_url
    cards = page.get_by_test_id("product-card")
    expect(cards).to_have_count(len(PRODUCTS))
    titles = {t.strip() for t in page.get_by_test_id("product-title").all_inner_texts()}
    assert titles == PRODUCTS
    shop.see("catalog")

    bought = []
    for index in (0, 1):
        page.goto(store.storefront_url + "/")
        card = page.get_by_test_id("product-card").nth(index)
        bought.append(card.get_by_test_id("product-title").inner_text().strip())
        card.get_by_role("link").first.click()
        expect(page.get_by_role("heading", name=bought[-1])).to_be_visible()
        shop.see(f"product-{index + 1}")
        page.get_by_test_id("add-to-cart").click()
        expect(page.get_by_test_id("cart-link")).to_contain_text(str(index + 1))

    page.get_by_test_id("cart-link").click()
    lines = page.get_by_test_id("cart-line")
    expect(lines).to_have_count(2)
    for title in bought:
        expect(page.get_by_test_id("cart-line").filter(has_text=title)).to_have_count(1)
    shop.see("cart")

    page.get_by_test_id("checkout").click()
    page.get_by_label(re.compile("^Email", re.I)).fill("shopper@example.com")
    page.get_by_label(re.compile("^First name", re.I)).fill("Ada")
    page.get_by_label(re.compile("^Last name", re.I)).fill("Lovelace")
    page.get_by_label(re.compile("^Address", re.I)).first.fill("12 Analytical Row")
    page.get_by_label(re.compile("^City", re.I)).fill("Springfield")
    page.get_by_label(re.compile("^Postal code", re.I)).fill("90210")
    page.get_by_label(re.compile("^Country", re.I)).select_option("us")
    shop.see("checkout-address")
    page.get_by_role("button", name=re.compile("continue", re.I)).click()

    expect(page.get_by_test_id("shipping-option")).to_have_count(2)
    page.get_by_label(re.compile("^Standard Shipping")).check()
    shop.see("checkout-shipping")
    page.get_by_role("button", name=re.compile("continue", re.I)).click()

    page.get_by_test_id("payment-manual").click()
    shop.see("checkout-payment")
    page.get_by_test_id("place-order").click()

    expect(page.get_by_test_id("order-confirmation")).to_be_visible(timeout=60_000)
    number = page.get_by_test_id("order-number").inner_text().strip().lstrip("#")
    assert number.isdigit(), number
    shop.see("confirmation")

    # The order is in Medusa, as the store's owner sees it through the admin API, with exactly those items.
    token = medusa_admin_token(store)
    status, _, text = through_ingress(
        store.storefront_url, "/admin/orders?limit=10", headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200, text
    orders = json.loads(text)["orders"]
    (order,) = [o for o in orders if str(o["display_id"]) == number]
    assert order["email"] == "shopper@example.com"
    assert sorted(item["title"] for item in order["items"]) == sorted(bought)
    assert order["shipping_methods"][0]["shipping_option"]["name"].startswith("Standard")
    assert order["payments"][0]["provider_id"] == "manual"

    # The owner opens the admin URL, gets Medusa's dashboard through the same controller, logs in with the
    # credentials the store page shows, and finds the order there. Before the login the dashboard's own probes of
    # the admin API are answered 401, as they should be.
    admin = open_from_store_page(tab.page, store.admin_url, "medusa-admin", allowed_statuses={401})
    expect(admin.page).to_have_url(re.compile(re.escape(store.storefront_url) + r"/app"))
    expect(admin.page.get_by_role("heading", name="Log in to Medusa")).to_be_visible(timeout=30_000)
    admin.see("admin-login")
    admin.page.get_by_role("textbox", name="Email").fill(store.admin_credentials["email"])
    admin.page.get_by_role("textbox", name="Password").fill(store.admin_credentials["password"])
    admin.page.get_by_role("button", name="Continue").click()
    expect(admin.page).to_have_url(re.compile(r"/app/a/"), timeout=30_000)
    admin.page.goto(store.storefront_url + "/app/a/orders")
    expect(admin.page.get_by_text(f"#{number}").first).to_be_visible(timeout=30_000)
    admin.see("admin-orders")
