from django.urls import path

from . import views

app_name = "payments"

urlpatterns = [
    path("recharge/", views.recharge, name="recharge"),
    path("recharge/checkout/", views.start_checkout, name="start_checkout"),
    path("recharge/e9th/", views.e9th_deposit, name="e9th_deposit"),
    path("payments/<int:pk>/", views.checkout, name="checkout"),
    path("payments/<int:pk>/receipt/", views.receipt, name="receipt"),
    path("payments/<int:pk>/status.json", views.status_json, name="status_json"),
    path("payments/<int:pk>/qr.svg", views.qr_code, name="qr"),
    path("payments/<int:pk>/demo-pay/", views.demo_pay, name="demo_pay"),
    path("payments/coinpayments/ipn/", views.coinpayments_ipn, name="coinpayments_ipn"),
    path("wallet/connect/", views.wallet_connect, name="wallet_connect"),
]
