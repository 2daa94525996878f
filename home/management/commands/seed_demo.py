"""Demo content: home page, blog with illustrated posts in English and in Russian, demo
accounts and demo campaigns in both languages (a Russian-speaking owner sees the site in Russian).

Idempotent: run it as often as you like; it only adds what is missing. Nothing is downloaded:
cover images are drawn with Pillow.
"""

import colorsys
import io
import random
from datetime import timedelta
from typing import Any

from allauth.account.models import EmailAddress
from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.images import ImageFile
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone
from PIL import Image as PILImage
from PIL import ImageDraw, ImageFont
from wagtail.images import get_image_model
from wagtail.models import Site

from blog.models import BlogIndexPage, BlogPage
from home.models import HomePage
from mailing import cache
from mailing.delivery import add_daily_stats
from mailing.models import Attempt, Delivery, Mailing, Message, Recipient, Run
from site_project.sites import sync_site
from users.groups import BLOGGERS, MANAGERS, PUBLISHERS, sync_groups
from users.models import User

ADMIN = "administrator"
EDITOR = "editor"
DEMO_ACCOUNTS = [
    # email, password, role, first name
    ("user@example.com", "demo-user-pass", None, "Dana"),
    ("manager@example.com", "demo-manager-pass", MANAGERS, "Morgan"),
    ("editor@example.com", "demo-editor-pass", EDITOR, "Eli"),
    # Everything in the Wagtail admin, the home page's introduction included.
    ("admin@example.com", "demo-admin-pass", ADMIN, "Ada"),
    # A Russian-speaking owner: the site in Russian and Moscow time, a campaign in Russian.
    ("ivan@example.com", "demo-ivan-pass", None, "Иван"),
]
# Language and time zone of demo accounts other than the site's defaults.
DEMO_PREFERENCES = {"ivan@example.com": {"language": "ru", "time_zone": "Europe/Moscow"}}

HOME_INTRO = (
    "<p>Plan a message once, send it to the right people on time, and see every delivery "
    "attempt with the mail server's own reply. Daily, weekly or monthly, until you say stop.</p>"
)

POSTS = [
    (
        "Writing a subject line people open",
        "Seven words, one promise, no tricks: what our tests taught us about subjects.",
        [
            "A subject line has one job: earn the open. It competes with forty others in an "
            "inbox, so it should say what is inside and why it matters today.",
            "Keep it under fifty characters so phones show all of it, lead with the benefit, "
            "and never promise what the message does not deliver.",
        ],
        "A subject is a promise. Keep it and people open the next one too.",
    ),
    (
        "Daily, weekly or monthly?",
        "How often to write depends on how often you have something worth reading.",
        [
            "Frequency is a contract with your readers. Daily works for news and reminders; "
            "weekly suits digests; monthly is right for reports and newsletters.",
            "Whatever you choose, keep to it: a steady rhythm builds trust, and an end date "
            "keeps a campaign from outliving its purpose.",
        ],
        "Send less, but send it when people expect it.",
    ),
    (
        "What the mail server's reply tells you",
        "250, 451, 550: the three-digit codes in your reports, explained.",
        [
            "Every attempt in your report keeps the server's reply. Codes starting with 2 mean "
            "the message was accepted. A 4 means try again later; we retry with growing pauses.",
            "A 5 is final: the address does not exist or the server refuses the message. Fix "
            "the address or remove the recipient instead of sending again.",
        ],
        "The reply code is the most honest feedback a campaign gets.",
    ),
    (
        "Keeping your list clean",
        "Fewer, real addresses beat long lists of dead ones.",
        [
            "Addresses go stale: people change jobs and abandon inboxes. Hard failures in your "
            "reports are the signal to remove or correct a recipient.",
            "A clean list delivers better, because mail servers judge senders by how often "
            "they hit addresses that do not exist.",
        ],
        "Your reputation is the sum of your bounces.",
    ),
    (
        "Plain text still wins",
        "Why our messages are plain text, and why your readers will not mind.",
        [
            "Plain text renders the same everywhere, loads instantly and reads like a note from "
            "a person rather than a brochure.",
            "It also avoids the spam filters that distrust image-heavy layouts. Write short "
            "paragraphs, one idea each, and a single clear call to action.",
        ],
        "Write like you would to one person. Then send it to many.",
    ),
    (
        "Scheduling around time zones",
        "The right hour is your reader's hour, not yours.",
        [
            "A message that arrives at 3 a.m. is buried by breakfast. Schedule the first send "
            "for your readers' morning, and a daily mailing keeps that local hour.",
            "When your audience spans continents, split it into mailings per region, each "
            "with its own first send time.",
        ],
        "Timing is the part of the message nobody reads but everybody feels.",
    ),
    (
        "Stopping a campaign gracefully",
        "What happens to queued messages when you press Stop.",
        [
            "Stop cancels every message still waiting in the queue and records each one in "
            "the report as not sent, with the reason, so nobody silently falls through.",
            "Messages already handed to the mail server cannot be recalled; everything else "
            "stays exactly as it was for your records.",
        ],
        "A good stop button is one you can press without fear.",
    ),
]

# Posts in Russian, after the English ones (slugs demo-ru-1…).
POSTS_RU = [
    (
        "Тема письма, которое откроют",
        "Семь слов, одно обещание и никаких уловок: чему нас научили тесты тем писем.",
        [
            "У темы письма одна задача — добиться, чтобы письмо открыли. Во входящих оно "
            "соседствует с десятками других, поэтому тема должна говорить, что внутри и почему "
            "это важно сегодня.",
            "Уложитесь в пятьдесят знаков, чтобы телефон показал тему целиком, начните с пользы "
            "для читателя и не обещайте того, чего нет в письме.",
        ],
        "Тема — это обещание. Сдержите его, и следующее письмо тоже откроют.",
    ),
    (
        "Как часто писать клиентам",
        "Ежедневно, еженедельно или ежемесячно — зависит от того, как часто вам есть что сказать.",
        [
            "Периодичность — это договор с читателями. Ежедневные письма подходят для новостей "
            "и напоминаний, еженедельные — для дайджестов, ежемесячные — для отчётов.",
            "Что бы вы ни выбрали, придерживайтесь ритма: он вызывает доверие, а дата окончания "
            "не даёт рассылке пережить свою цель.",
        ],
        "Пишите реже, но тогда, когда вас ждут.",
    ),
    (
        "Что говорит ответ почтового сервера",
        "250, 451, 550: трёхзначные коды в ваших отчётах — простыми словами.",
        [
            "Каждая попытка в отчёте хранит ответ сервера. Код на 2 значит, что письмо принято. "
            "Код на 4 — попробовать позже: мы повторим отправку с растущими паузами.",
            "Код на 5 окончательный: адреса нет или сервер отказывается принять письмо. "
            "Исправьте адрес или удалите получателя, а не отправляйте снова.",
        ],
        "Код ответа — самая честная обратная связь, которую получает рассылка.",
    ),
]

DEMO_RECIPIENTS = [
    ("ada.lovelace@example.net", "Ada Lovelace"),
    ("alan.turing@example.net", "Alan Turing"),
    ("grace.hopper@example.net", "Grace Hopper"),
    ("katherine.johnson@example.net", "Katherine Johnson"),
    ("edsger.dijkstra@example.net", "Edsger Dijkstra"),
    ("barbara.liskov@example.net", "Barbara Liskov"),
    ("donald.knuth@example.net", "Donald Knuth"),
    ("margaret.hamilton@example.net", "Margaret Hamilton"),
    ("tim.berners-lee@example.net", "Tim Berners-Lee"),
    ("radia.perlman@example.net", "Radia Perlman"),
    ("ken.thompson@example.net", "Ken Thompson"),
    ("frances.allen@example.net", "Frances Allen"),
]


DEMO_RECIPIENTS_RU = [
    ("anna.ivanova@example.ru", "Анна Иванова"),
    ("sergey.petrov@example.ru", "Сергей Петров"),
    ("olga.smirnova@example.ru", "Ольга Смирнова"),
    ("dmitry.kuznetsov@example.ru", "Дмитрий Кузнецов"),
    ("elena.popova@example.ru", "Елена Попова"),
    ("pavel.sokolov@example.ru", "Павел Соколов"),
]

# The two demo campaigns: the messages of each owner, in their language. The first message
# goes to a finished daily mailing with two weeks of history, the second to a weekly one.
CAMPAIGNS = {
    "user@example.com": {
        "recipients": DEMO_RECIPIENTS,
        "messages": [
            (
                "Welcome aboard",
                "Hello,\n\nThanks for joining us. Reply to this mail if you have questions.\n\nDana",
            ),
            (
                "Your weekly digest",
                "Hello,\n\nHere is what happened this week.\n\nBest regards,\nDana",
            ),
            (
                "Spring sale starts Monday",
                "Hello,\n\nEverything is 20% off from Monday to Friday.\n\nDana",
            ),
        ],
    },
    "ivan@example.com": {
        "recipients": DEMO_RECIPIENTS_RU,
        "messages": [
            (
                "Добро пожаловать!",
                "Здравствуйте!\n\nСпасибо, что вы с нами. Если появятся вопросы, просто ответьте "
                "на это письмо.\n\nС уважением,\nИван",
            ),
            (
                "Новости недели",
                "Здравствуйте!\n\nРассказываем, что нового произошло за неделю.\n\n"
                "С уважением,\nИван",
            ),
            (
                "Весенняя распродажа с понедельника",
                "Здравствуйте!\n\nС понедельника по пятницу — скидка 20% на всё.\n\nИван",
            ),
        ],
    },
}


def draw_cover(seed: int, title: str) -> bytes:
    """A 1280 by 720 PNG: a two-colour gradient, soft circles and the post's title."""
    rng = random.Random(seed)
    width, height = 1280, 720
    hue = rng.random()
    top = tuple(int(c * 255) for c in colorsys.hsv_to_rgb(hue, 0.55, 0.95))
    bottom = tuple(int(c * 255) for c in colorsys.hsv_to_rgb((hue + 0.15) % 1, 0.75, 0.55))
    image = PILImage.new("RGB", (width, height))
    draw = ImageDraw.Draw(image)
    for y in range(height):
        t = y / (height - 1)
        draw.line(
            [(0, y), (width, y)],
            fill=tuple(int(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)),
        )
    overlay = PILImage.new("RGBA", (width, height), (0, 0, 0, 0))
    shapes = ImageDraw.Draw(overlay)
    for _ in range(9):
        radius = rng.randint(60, 260)
        x, y = rng.randint(0, width), rng.randint(0, height)
        shapes.ellipse(
            [x - radius, y - radius, x + radius, y + radius],
            fill=(255, 255, 255, rng.randint(18, 50)),
        )
    image = PILImage.alpha_composite(image.convert("RGBA"), overlay).convert("RGB")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=64)
    words, lines, line = title.split(), [], ""
    for word in words:
        candidate = f"{line} {word}".strip()
        if draw.textlength(candidate, font=font) > width - 200 and line:
            lines.append(line)
            line = word
        else:
            line = candidate
    lines.append(line)
    y = height - 120 - 80 * len(lines)
    for text in lines:
        draw.text((100 + 3, y + 3), text, font=font, fill=(0, 0, 0))
        draw.text((100, y), text, font=font, fill=(255, 255, 255))
        y += 80
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


class Command(BaseCommand):
    help = "Load demo content (home page, blog, demo accounts, a demo campaign). Idempotent."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing when the demo accounts already exist (used by `make run`).",
        )

    def handle(self, *args, if_empty: bool = False, **options) -> None:
        # The name and address account mails give, from SITE_NAME and SITE_URL (they may have
        # changed since the last migrate).
        sync_site()
        if if_empty and User.objects.filter(email=DEMO_ACCOUNTS[0][0]).exists():
            self.stdout.write("Demo content is already there.")
            return
        with transaction.atomic():
            home = self._home_page()
            index = self._blog_index(home)
            created = self._blog_posts(index)
            sync_groups()
            users = self._accounts()
            for email, content in CAMPAIGNS.items():
                self._campaign(users[email], content)
        self.stdout.write(self.style.SUCCESS(f"Demo content ready ({created} new blog posts)."))
        for email, password, role, _ in DEMO_ACCOUNTS:
            self.stdout.write(f"  {email:<22} {password:<20} {role or 'user'}")

    def _home_page(self) -> HomePage:
        home = HomePage.objects.first()
        if home is None:
            raise CommandError("No HomePage: run `manage.py migrate` first.")
        if not home.intro:
            home.intro = HOME_INTRO
            home.save_revision().publish()
        # The default site is created only when there is none: an operator's host name and
        # port (Settings > Sites in the admin) stay as they are.
        if not Site.objects.filter(is_default_site=True).exists():
            Site.objects.create(
                hostname="localhost",
                port=80,
                root_page=home,
                is_default_site=True,
                site_name=settings.WAGTAIL_SITE_NAME,
            )
        return home

    def _blog_index(self, home: HomePage) -> BlogIndexPage:
        index = BlogIndexPage.objects.child_of(home).first()
        if index is None:
            index = BlogIndexPage(
                title="Blog",
                slug="blog",
                intro="<p>Notes on writing, sending and measuring campaigns.</p>",
            )
            home.add_child(instance=index)
            index.save_revision().publish()
        return index

    def _blog_posts(self, index: BlogIndexPage) -> int:
        image_model = get_image_model()
        created = 0
        today = timezone.localdate()
        numbered = [(f"demo-{n + 1}", n, post) for n, post in enumerate(POSTS)]
        numbered += [(f"demo-ru-{n + 1}", len(POSTS) + n, post) for n, post in enumerate(POSTS_RU)]
        for slug, number, (title, intro, paragraphs, quote) in numbered:
            if BlogPage.objects.filter(slug=slug).exists():
                continue
            cover = image_model(title=f"Cover: {title}")
            cover.file = ImageFile(io.BytesIO(draw_cover(number, title)), name=f"{slug}.png")
            cover.save()
            body: list[dict[str, Any]] = [{"type": "paragraph", "value": f"<p>{paragraphs[0]}</p>"}]
            team = "Команда" if slug.startswith("demo-ru-") else "The team"
            body.append({"type": "quote", "value": {"text": quote, "attribution": team}})
            body.append({"type": "paragraph", "value": f"<p>{paragraphs[1]}</p>"})
            post = BlogPage(
                title=title,
                slug=slug,
                intro=intro,
                date_published=today - timedelta(days=5 * number + 2),
                cover_image=cover,
                body=body,
            )
            index.add_child(instance=post)
            post.save_revision().publish()
            created += 1
        return created

    def _accounts(self) -> dict[str, User]:
        users = {}
        for email, password, role, first_name in DEMO_ACCOUNTS:
            user = User.objects.filter(email=email).first()
            if user is None:
                create = (
                    User.objects.create_superuser if role == ADMIN else User.objects.create_user
                )
                user = create(
                    email=email,
                    password=password,
                    first_name=first_name,
                    **DEMO_PREFERENCES.get(email, {}),
                )
            EmailAddress.objects.update_or_create(
                user=user, email=email, defaults={"verified": True, "primary": True}
            )
            if role == MANAGERS:
                user.groups.add(Group.objects.get(name=MANAGERS))
            elif role == EDITOR:
                user.groups.add(
                    Group.objects.get(name=BLOGGERS), Group.objects.get(name=PUBLISHERS)
                )
            users[email] = user
        return users

    def _campaign(self, user: User, content: dict[str, Any]) -> None:
        if Mailing.objects.filter(owner=user).exists():
            return
        recipients = [
            Recipient.objects.create(owner=user, email=email, full_name=name)
            for email, name in content["recipients"]
        ]
        now = timezone.now().replace(second=0, microsecond=0)
        welcome, digest, _sale = (
            Message.objects.create(owner=user, subject=subject, body=body)
            for subject, body in content["messages"]
        )
        history_start = now - timedelta(days=13)
        finished = Mailing.objects.create(
            owner=user,
            message=welcome,
            first_send_at=history_start,
            end_at=now - timedelta(days=1),
            periodicity=Mailing.Periodicity.DAILY,
            status=Mailing.Status.FINISHED,
            schedule_anchor=history_start,
            next_send_at=None,
        )
        finished.recipients.set(recipients)
        weekly = Mailing.objects.create(
            owner=user,
            message=digest,
            first_send_at=now + timedelta(days=1),
            end_at=now + timedelta(days=90),
            periodicity=Mailing.Periodicity.WEEKLY,
            schedule_anchor=now + timedelta(days=1),
            next_send_at=now + timedelta(days=1),
        )
        weekly.recipients.set(recipients[:8])
        self._history(finished, recipients, start=history_start)
        cache.bump(owner_id=user.pk)

    def _history(self, mailing: Mailing, recipients: list[Recipient], *, start) -> None:
        """Thirteen days of past runs, as the engine records them (a run per day, a delivery
        per recipient, an attempt per delivery), so the dashboard chart has something to show
        and the mailing page's runs, latest run and report agree."""
        rng = random.Random(7)
        attempts: list[Attempt] = []
        deliveries: list[Delivery] = []
        totals: dict[tuple[int, object], tuple[int, int]] = {}
        for day in range(13):
            occurrence = start + timedelta(days=day)
            at = occurrence + timedelta(minutes=1)
            run = Run.objects.create(
                mailing=mailing,
                occurrence=occurrence,
                trigger=Run.Trigger.SCHEDULE,
                created_at=occurrence,
                finished_at=at + timedelta(minutes=1),
            )
            for recipient in recipients:
                ok = rng.random() > 0.12
                deliveries.append(
                    Delivery(
                        run=run,
                        recipient=recipient,
                        state=Delivery.State.SENT if ok else Delivery.State.FAILED,
                        tries=1,
                        next_try_at=at,
                    )
                )
                attempts.append(
                    Attempt(
                        mailing=mailing,
                        run=run,
                        recipient=recipient,
                        email=recipient.email,
                        attempted_at=at,
                        status=Attempt.Status.SUCCESS if ok else Attempt.Status.FAILURE,
                        server_response="250 2.0.0 Ok: queued (demo history)"
                        if ok
                        else "550 5.1.1 Mailbox unavailable (demo history)",
                    )
                )
                key = (mailing.pk, timezone.localdate(at))
                successes, failures = totals.get(key, (0, 0))
                totals[key] = (successes + ok, failures + (not ok))
        Delivery.objects.bulk_create(deliveries)
        Attempt.objects.bulk_create(attempts)
        add_daily_stats(totals)
