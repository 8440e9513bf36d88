<?php
/**
 * Plugin Name: WooCommerce (LOCAL STAND-IN for tests - not WooCommerce)
 * Description: LOCAL STAND-IN used by storeplane's local test images, because the real WooCommerce plugin is in no package registry reachable here. It only activates under the slug "woocommerce" and answers GET /wp-json/wc-standin/v1/status. It implements NO WooCommerce behaviour: no products, cart, checkout, orders or payments.
 * Version: 0.0.0-local-standin
 * Author: storeplane (local images)
 * License: GPLv2 or later
 * Requires at least: 6.0
 */

defined('ABSPATH') || exit;

add_action('rest_api_init', static function (): void {
    register_rest_route('wc-standin/v1', '/status', [
        'methods' => 'GET',
        'permission_callback' => '__return_true',
        'callback' => static fn () => [
            'plugin' => 'woocommerce',
            'standin' => true,
            'woocommerce' => false,
            'message' => 'LOCAL STAND-IN for tests; this is not WooCommerce',
        ],
    ]);
});
