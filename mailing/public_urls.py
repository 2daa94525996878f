from django.urls import path

from . import public_views

app_name = "signup"

urlpatterns = [
    path("confirm/<str:token>/", public_views.ConfirmView.as_view(), name="confirm"),
    path("<str:key>/", public_views.JoinView.as_view(), name="join"),
    path("<str:key>/sent/", public_views.sent, name="sent"),
]
