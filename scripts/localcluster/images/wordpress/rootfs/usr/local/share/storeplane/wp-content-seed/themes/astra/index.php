<?php
// LOCAL STAND-IN theme template: a header with the site title and the page menu, the content, a footer.
?><!DOCTYPE html>
<html <?php language_attributes(); ?>>
<head>
<meta charset="<?php bloginfo('charset'); ?>">
<meta name="viewport" content="width=device-width, initial-scale=1">
<?php wp_head(); ?>
</head>
<body <?php body_class(); ?>>
<?php wp_body_open(); ?>
<header class="site-header">
  <div class="inner">
    <p class="site-title"><a href="<?php echo esc_url(home_url('/')); ?>" rel="home"><?php bloginfo('name'); ?></a></p>
    <?php if (get_bloginfo('description')) : ?><p class="site-description"><?php bloginfo('description'); ?></p><?php endif; ?>
    <nav class="main-navigation" aria-label="Main"><?php wp_page_menu(['menu_class' => 'menu', 'show_home' => true]); ?></nav>
  </div>
</header>
<main class="site-main" id="main">
<?php if (is_archive()) : ?>
  <h1 class="page-title"><?php echo esc_html(post_type_archive_title('', false) ?: wp_strip_all_tags(get_the_archive_title())); ?></h1>
<?php endif; ?>
<?php if (have_posts()) : ?>
  <div class="entries">
  <?php while (have_posts()) : the_post(); ?>
    <article id="post-<?php the_ID(); ?>" <?php post_class('entry'); ?>>
      <?php if (is_singular()) : ?>
        <h1 class="entry-title"><?php the_title(); ?></h1>
      <?php else : ?>
        <h2 class="entry-title"><a href="<?php the_permalink(); ?>"><?php the_title(); ?></a></h2>
      <?php endif; ?>
      <div class="entry-content"><?php the_content(); ?></div>
    </article>
  <?php endwhile; ?>
  </div>
<?php else : ?>
  <p>Nothing found here.</p>
<?php endif; ?>
</main>
<footer class="site-footer">
  <div class="inner">
    <p>&copy; <?php echo esc_html(gmdate('Y')); ?> <?php bloginfo('name'); ?>.
    <?php if (function_exists('wc_standin_find_products')) : ?><?php echo esc_html(WC_STANDIN_NOTICE); ?><?php endif; ?></p>
  </div>
</footer>
<?php wp_footer(); ?>
</body>
</html>
