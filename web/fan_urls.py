"""Guide pages (SPEC §6): My fans, the fan card and Today."""

from django.urls import path

from customers import views

app_name = "customers"

urlpatterns = [
    path("fans/", views.customer_list, name="list"),
    path("fans/<int:pk>/", views.customer_detail, name="detail"),
    path("fans/<int:pk>/tags/", views.customer_tag_toggle, name="tag_toggle"),
    path("fans/<int:pk>/edit/", views.customer_edit, name="edit"),
    path("today/", views.today, name="today"),
    path("today/tick/", views.today_tick, name="today_tick"),
]
