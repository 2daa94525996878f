"""The dashboard on a phone (390 px) and a desktop (1280 px), in the real browser: the report
chart is readable (not a strip a few pixels high), and no page scrolls sideways — tables
scroll inside their own box, and nothing lies outside the viewport."""

from collections.abc import Callable

import pytest
from playwright.sync_api import Page

from mailing import delivery

from .conftest import PASSWORD, sign_in

pytestmark = pytest.mark.e2e

LONG = ("Ada Augusta King, Countess of Lovelace " * 6)[:200].strip()
PAGES = [
    "/dashboard/",
    "/dashboard/recipients/",
    "/dashboard/messages/",
    "/dashboard/mailings/",
    "/dashboard/attempts/",
]
# The body's width beyond the viewport, and what sticks out (its tag, class and right edge).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const element of document.querySelectorAll("body *")) {
    if (element.closest(".table-responsive, .modal, .dropdown-menu, .visually-hidden")) continue;
    const box = element.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      out.push(`${element.tagName}.${element.className} ${Math.round(box.left)}..${Math.round(box.right)}`);
    }
  }
  return { scroll: document.documentElement.scrollWidth - width, out: out.slice(0, 5) };
}"""


@pytest.mark.parametrize("width", [390, 1280], ids=["phone", "desktop"])
def test_the_dashboard_fits_the_screen_and_its_chart_is_readable(
    new_page: Callable[[], Page], user, make_mailing, record_attempt, width
):
    mailing = make_mailing(user, recipients=3, subject=LONG)
    delivery.start_run(mailing=mailing)
    for _ in range(3):
        record_attempt(mailing, email="someone.with.a.rather.long.address@example.org")
    record_attempt(mailing, status="failure", server_response="550 " + "no such user " * 20)
    page = new_page()
    page.set_viewport_size({"width": width, "height": 800})
    sign_in(page, user.email, PASSWORD)

    for path in [*PAGES, f"/dashboard/mailings/{mailing.pk}/"]:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        found = page.evaluate(OVERFLOW)
        assert found["scroll"] <= 0, (path, found)
        assert found["out"] == [], (path, found)

    for path in ("/dashboard/", f"/dashboard/mailings/{mailing.pk}/"):
        page.goto(path)
        chart = page.locator("#attempts-chart")
        chart.wait_for()
        box = chart.bounding_box()
        assert box is not None
        assert box["height"] >= 200, (path, box)  # 16rem on a phone, 20rem on a desktop
        assert box["width"] <= width, (path, box)
