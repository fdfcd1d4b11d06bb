"""URLs of the museum card pages (mounted at the site root by museum/urls.py)."""

from django.urls import path

from accounts import card_views

app_name = "cards"

urlpatterns = [
    path("card/", card_views.card_buy, name="buy"),
    path("card/gift/<token:token>/", card_views.card_gift_claim_view, name="gift_claim"),
    path("card/<token:token>/", card_views.card_detail, name="detail"),
    path("card/<token:token>/card.pdf", card_views.card_pdf_download, name="pdf"),
    path("card/<token:token>/renew/", card_views.card_renew, name="renew"),
    path("account/card/", card_views.my_cards, name="mine"),
]
