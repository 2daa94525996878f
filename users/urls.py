from django.urls import path

from . import views

urlpatterns = [
    path("profile/", views.ProfileView.as_view(), name="profile"),
    path("profile/data/", views.PersonalDataView.as_view(), name="personal_data"),
    path("profile/delete/", views.AccountDeleteView.as_view(), name="account_delete"),
]
