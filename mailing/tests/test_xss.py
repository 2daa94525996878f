"""User text is escaped on every page that shows it."""

import pytest
from django.urls import reverse

from mailing.models import Attempt, Recipient

pytestmark = pytest.mark.django_db

SCRIPT = "<script>alert('x')</script>"
ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"


def test_a_script_in_user_text_is_shown_escaped_everywhere(
    user, manager, client_for, make_mailing, record_attempt
):
    mailing = make_mailing(user, recipients=1, subject=f"Hi {SCRIPT}", body=f"Body {SCRIPT}")
    Recipient.objects.filter(owner=user).update(full_name=SCRIPT, comment=SCRIPT)
    record_attempt(
        mailing, email="a@example.org", status=Attempt.Status.FAILURE, server_response=SCRIPT
    )
    pages = [
        reverse("mailing:dashboard"),
        reverse("mailing:recipient_list"),
        reverse("mailing:message_list"),
        reverse("mailing:message_detail", args=[mailing.message_id]),
        reverse("mailing:mailing_list"),
        reverse("mailing:mailing_detail", args=[mailing.pk]),
        reverse("mailing:attempt_list"),
    ]
    edit_page = reverse("mailing:mailing_update", args=[mailing.pk])

    for client, readable in ((client_for(user), [*pages, edit_page]), (client_for(manager), pages)):
        for page in readable:
            html = client.get(page).content.decode()
            assert SCRIPT not in html, page
            if page != reverse("mailing:dashboard"):
                assert ESCAPED in html, page
    home = client_for(user).get("/").content.decode()
    assert SCRIPT not in home
