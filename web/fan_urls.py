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
    path("today/<int:pk>/done/", today.follow_up_done, name="follow_up_done"),
    path("today/<int:pk>/snooze/", today.follow_up_snooze, name="follow_up_snooze"),
    path("today/<int:pk>/skip/", today.follow_up_skip, name="follow_up_skip"),
    path("fans/<int:pk>/contacted/", fans.customer_contacted, name="contacted"),
]
