from advisor.app_pages.database_page import render

render()
