from django.urls import path

from . import views

app_name = "users"

urlpatterns = [
    path("", views.UserListView.as_view(), name="user_list"),
    path("<int:pk>/block/", views.BlockActionView.as_view(block=True), name="user_block"),
    path("<int:pk>/unblock/", views.BlockActionView.as_view(block=False), name="user_unblock"),
]
