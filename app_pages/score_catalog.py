from advisor.app_pages.catalog_page import render

render()
