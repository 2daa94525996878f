from django.urls import path

from . import content_views, exports, list_views, suppression_views, views

app_name = "mailing"

urlpatterns = [
    path("", views.DashboardView.as_view(), name="dashboard"),
    path("recipients/", views.RecipientListView.as_view(), name="recipient_list"),
    path("recipients/import/", list_views.RecipientImportView.as_view(), name="recipient_import"),
    path(
        "recipients/import/confirm/",
        list_views.RecipientImportConfirmView.as_view(),
        name="recipient_import_confirm",
    ),
    path("recipients/export/", exports.RecipientExportView.as_view(), name="recipient_export"),
    path("recipients/new/", views.RecipientCreateView.as_view(), name="recipient_create"),
    path("recipients/<int:pk>/", views.RecipientDetailView.as_view(), name="recipient_detail"),
    path("recipients/<int:pk>/edit/", views.RecipientUpdateView.as_view(), name="recipient_update"),
    path(
        "recipients/<int:pk>/delete/", views.RecipientDeleteView.as_view(), name="recipient_delete"
    ),
    path("lists/", list_views.ListListView.as_view(), name="list_list"),
    path("lists/new/", list_views.ListCreateView.as_view(), name="list_create"),
    path("lists/<int:pk>/", list_views.ListDetailView.as_view(), name="list_detail"),
    path("lists/<int:pk>/edit/", list_views.ListUpdateView.as_view(), name="list_update"),
    path("lists/<int:pk>/delete/", list_views.ListDeleteView.as_view(), name="list_delete"),
    path("lists/<int:pk>/remove/", list_views.ListRemoveMembersView.as_view(), name="list_remove"),
    path("lists/add/", list_views.ListAddRecipientsView.as_view(), name="list_add"),
    path("audience/search/", list_views.AudienceSearchView.as_view(), name="audience_search"),
    path("audience/summary/", list_views.AudienceSummaryView.as_view(), name="audience_summary"),
    path(
        "recipients/suppressed/",
        suppression_views.SuppressionListView.as_view(),
        name="suppression_list",
    ),
    path(
        "recipients/suppressed/<int:pk>/lift/",
        suppression_views.SuppressionLiftView.as_view(),
        name="suppression_lift",
    ),
    path("messages/", views.MessageListView.as_view(), name="message_list"),
    path("messages/new/", views.MessageCreateView.as_view(), name="message_create"),
    path("messages/<int:pk>/", views.MessageDetailView.as_view(), name="message_detail"),
    path(
        "messages/<int:pk>/duplicate/",
        views.MessageDuplicateView.as_view(),
        name="message_duplicate",
    ),
    path("messages/<int:pk>/edit/", views.MessageUpdateView.as_view(), name="message_update"),
    path("messages/<int:pk>/delete/", views.MessageDeleteView.as_view(), name="message_delete"),
    path(
        "messages/<int:pk>/preview/",
        content_views.MessagePreviewView.as_view(),
        name="message_preview",
    ),
    path(
        "messages/from-post/<int:page_id>/",
        content_views.MessageFromPostView.as_view(),
        name="message_from_post",
    ),
    path(
        "messages/<int:pk>/test/", content_views.MessageTestSendView.as_view(), name="message_test"
    ),
    path(
        "mailings/<int:pk>/test/", content_views.MailingTestSendView.as_view(), name="mailing_test"
    ),
    path("mailings/", views.MailingListView.as_view(), name="mailing_list"),
    path("mailings/new/", views.MailingCreateView.as_view(), name="mailing_create"),
    path("mailings/<int:pk>/", views.MailingDetailView.as_view(), name="mailing_detail"),
    path(
        "mailings/<int:pk>/duplicate/",
        views.MailingDuplicateView.as_view(),
        name="mailing_duplicate",
    ),
    path(
        "mailings/<int:pk>/attempts.csv",
        exports.AttemptExportView.as_view(),
        name="mailing_attempts_export",
    ),
    path("mailings/<int:pk>/edit/", views.MailingUpdateView.as_view(), name="mailing_update"),
    path("mailings/<int:pk>/delete/", views.MailingDeleteView.as_view(), name="mailing_delete"),
    path("mailings/<int:pk>/send/", views.MailingSendNowView.as_view(), name="mailing_send"),
    path("mailings/<int:pk>/stop/", views.MailingStopView.as_view(), name="mailing_stop"),
    path(
        "mailings/<int:pk>/schedule/", views.MailingScheduleView.as_view(), name="mailing_schedule"
    ),
    path("mailings/<int:pk>/disable/", views.MailingDisableView.as_view(), name="mailing_disable"),
    path("mailings/<int:pk>/enable/", views.MailingEnableView.as_view(), name="mailing_enable"),
    path("mailings/<int:pk>/pause/", views.MailingPauseView.as_view(), name="mailing_pause"),
    path("mailings/<int:pk>/resume/", views.MailingResumeView.as_view(), name="mailing_resume"),
    path(
        "mailings/<int:pk>/progress/", views.MailingProgressView.as_view(), name="mailing_progress"
    ),
    path("attempts/", views.AttemptListView.as_view(), name="attempt_list"),
    path("health/", views.SchedulerHealthView.as_view(), name="scheduler_health"),
]
