"""Guide pages (SPEC §6): My fans, the fan card and Today (namespace `customers`)."""

from django.urls import path

from web.views import fans, today

app_name = "customers"

urlpatterns = [
    path("fans/", fans.customer_list, name="list"),
    path("fans/search/", fans.customer_search, name="search"),
    path("fans/<int:pk>/", fans.customer_detail, name="detail"),
    path("fans/<int:pk>/tags/", fans.customer_tag_toggle, name="tag_toggle"),
    path("fans/<int:pk>/edit/", fans.customer_edit, name="edit"),
    path("today/", today.today, name="today"),
    path("today/tick/", today.today_tick, name="today_tick"),
]
